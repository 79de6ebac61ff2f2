// A command module that fails to load (a broken install, a missing dependency, a throw at import)
// ends like any other failure: `Error:` naming the command and the cause, exit 1, and main()
// resolves — never a rejected promise that node reports as an unhandled rejection.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { BIN, runCli, testEnv } from '../support/cli.js';

vi.mock('../../src/commands/queue/stats.js', () => {
  throw new Error("Cannot find package '@aws-sdk/client-sqs' imported from queue/stats.js");
});

describe('a command module that fails to load', () => {
  it('exit 1 with Error: naming the command and why, under --json one error document', async () => {
    const r = await runCli(['queue', 'stats'], { env: testEnv() });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error: could not load the command `fluxer queue stats`: /);
    expect(r.stderr).toContain("Cannot find package '@aws-sdk/client-sqs'");
    expect(r.stderr).toContain('Hint: The installation looks broken');

    const json = await runCli(['queue', 'stats', '--json'], { env: testEnv() });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'CommandLoadFailed', exitCode: 1 });
  });

  it('other commands, and help that lists the broken one, are unaffected', async () => {
    const help = await runCli(['--help'], { env: testEnv() });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('queue');
    const other = await runCli(['config', 'show', '--json'], { env: testEnv() });
    expect(other.code, other.stderr).toBe(0);
  });
});

describe('bin/fluxer when the bundle itself is broken', () => {
  /** bin/fluxer copied beside a dist/fluxer.cjs of the test's making. */
  function brokenInstall(bundle: string): string {
    const root = mkdtempSync(join(tmpdir(), 'fluxer-broken-'));
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'dist'));
    copyFileSync(BIN, join(root, 'bin', 'fluxer'));
    writeFileSync(join(root, 'dist', 'fluxer.cjs'), bundle);
    return join(root, 'bin', 'fluxer');
  }
  const runIt = (bin: string) => spawnSync(process.execPath, [bin, 'generate', 'x'], { encoding: 'utf8', env: testEnv(), timeout: 30_000 });

  it('a bundle that throws while loading: Error: and exit 1, no stack trace', () => {
    const r = runIt(brokenInstall("throw new Error(\"Cannot find module 'commander'\");\n"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("Error: Cannot find module 'commander'\n");
  });

  it('a run that rejects outside main(): Error: and exit 1, not an unhandled rejection', () => {
    const r = runIt(brokenInstall("exports.run = async () => { throw new Error('internal: broke'); };\n"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('Error: internal: broke\n');
  });
});
