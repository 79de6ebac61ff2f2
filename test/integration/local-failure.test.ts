// `fluxer local up --model DIR` with a directory the runtime cannot load: the node's worker reports
// FAILED, `up` exits 1 with the reason and the tail of the node's runtime log, and `down` still stops everything.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-local-fail-'));
const localDir = join(project, '.fluxer', 'local');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (...argv: string[]) => runBin(argv, { cwd: project, env, timeoutMs: 150_000 });

function processesOfThisStack(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') return false;
        return readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').includes(`FLUXER_LOCAL_DIR=${localDir}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('fluxer local up with a model directory that cannot load', () => {
  afterAll(async () => {
    await fluxer('local', 'down');
    for (const pid of processesOfThisStack()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(project, { recursive: true, force: true });
  }, 60_000);

  it('up exits 1 naming the failed worker, its reason and its log; status shows it failed; down leaves nothing', async () => {
    const model = join(project, 'models', 'FLUX.1-schnell');
    mkdirSync(model, { recursive: true });
    writeFileSync(join(model, 'model_index.json'), JSON.stringify({ _class_name: 'FluxPipeline' }));

    const up = await fluxer('local', 'up', '--model', model);
    expect(up.code).toBe(1);
    expect(up.stderr).toContain(`model flux-schnell from ${model}, device auto`);
    expect(up.stderr).toMatch(/Node i-[0-9a-f]{17} \(worker pid \d+\) is FAILED: model load failed/);
    expect(up.stderr).toMatch(new RegExp(`Last lines of ${localDir}/nodes/i-[0-9a-f]{17}/root/var/log/fluxer/runtime.log`));
    expect(up.stderr).toContain('fluxer local down');
    // Nothing half-working is recorded as the `local` stack.
    expect(readdirSync(project)).not.toContain('fluxer.config.json');

    // The runtime may stay up to report its failure, or exit after it: FAILED, or dead once gone.
    const status = await fluxer('local', 'status', '--json');
    expect(['FAILED', 'dead']).toContain(JSON.parse(status.stdout).workers[0].state);

    const down = await fluxer('local', 'down');
    expect(down.code).toBe(0);
    expect(processesOfThisStack()).toEqual([]);
  }, 150_000);
});
