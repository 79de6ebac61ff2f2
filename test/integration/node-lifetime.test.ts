// A node's hard lifetime (config nodeLifetimeMinutes): rendered into the user data's env file, and
// scheduled by templates/node-bootstrap.sh before any step that can fail — here the release download
// fails (the endpoint refuses connections) and the power-off is scheduled all the same.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { REPO_ROOT } from '../support/moto.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'templates', 'node-bootstrap.sh');
const VARS = ['--var', 'queue_url=https://sqs.us-east-1.amazonaws.com/123456789012/fluxer-life-jobs', '--var', 'bucket=fluxer-life-bucket'];

async function bootstrap(lifetime: string): Promise<{ code: number; stderr: string; scheduled: string | undefined }> {
  const root = mkdtempSync(join(tmpdir(), 'fluxer-lifetime-'));
  mkdirSync(join(root, 'etc', 'fluxer'), { recursive: true });
  writeFileSync(join(root, 'etc', 'fluxer', 'runtime.env'), `FLUXER_BUCKET=b\nFLUXER_STACK=s\nFLUXER_REGION=us-east-1\nFLUXER_RELEASE=0.1.0-abc\nFLUXER_NODE_LIFETIME_MINUTES=${lifetime}\n`);
  const recorder = join(root, 'shutdown.sh');
  writeFileSync(recorder, `#!/bin/sh\necho "$@" > ${join(root, 'scheduled')}\n`, { mode: 0o755 });
  try {
    const out = await run('bash', [SCRIPT], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent-home', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', FLUXER_ROOT: root, FLUXER_ENDPOINT_URL: 'http://127.0.0.1:9', FLUXER_LIFETIME_COMMAND: recorder, AWS_MAX_ATTEMPTS: '1', AWS_RETRY_MODE: 'standard' },
    });
    return { code: 0, stderr: out.stderr, scheduled: undefined };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    const file = join(root, 'scheduled');
    return { code: e.code, stderr: e.stderr, scheduled: existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined };
  }
}

describe('node lifetime', () => {
  it('renders FLUXER_NODE_LIFETIME_MINUTES from the config (default 0: none)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fluxer-lifetime-render-'));
    const set = await runCli(['userdata', 'render', ...VARS], { cwd, env: testEnv({ FLUXER_NODE_LIFETIME_MINUTES: '45' }) });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^ {6}FLUXER_NODE_LIFETIME_MINUTES=45$/m);
    const unset = await runCli(['userdata', 'render', ...VARS], { cwd, env: testEnv() });
    expect(unset.stdout).toMatch(/^ {6}FLUXER_NODE_LIFETIME_MINUTES=0$/m);
    const bad = await runCli(['userdata', 'render', ...VARS], { cwd, env: testEnv({ FLUXER_NODE_LIFETIME_MINUTES: '-5' }) });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('FLUXER_NODE_LIFETIME_MINUTES: -5 must be between 0');
  });

  it('the bootstrap schedules the power-off first, so a failing install still ends the node', async () => {
    const r = await bootstrap('30');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('download of release 0.1.0-abc failed');
    expect(r.scheduled).toBe('+30 fluxer: node lifetime of 30 minutes is over');
    expect(r.stderr).toContain('powers off in 30 minutes');
  });

  it('0 schedules nothing; a value that is not whole minutes is refused (exit 2)', async () => {
    expect((await bootstrap('0')).scheduled).toBeUndefined();
    const bad = await bootstrap('ten');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('FLUXER_NODE_LIFETIME_MINUTES="ten" is not a whole number of minutes');
  });
});
