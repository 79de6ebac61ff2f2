// Teardown shared by the tests that run a local stack in a temp project (bin/fluxer `local up`): stop it
// as a user would, then SIGKILL whatever of it survived — every process the stack starts carries
// FLUXER_LOCAL_DIR=<its folder> — so a failed test never leaves a worker, moto or region behind.
import { readFileSync, readdirSync, rmSync } from 'node:fs';

/** Every live process that carries this local stack's marker in its environment. */
export function localStackProcesses(localDir: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').includes(`FLUXER_LOCAL_DIR=${localDir}`)) found.push(Number(e));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

/** `fluxer local down`, then SIGKILL for any straggler, then the project folder goes. */
export async function tearDownLocalStack(down: () => Promise<unknown>, localDir: string, project: string): Promise<void> {
  await down();
  for (const pid of localStackProcesses(localDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  rmSync(project, { recursive: true, force: true });
}
