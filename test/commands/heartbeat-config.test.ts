// `fluxer config show` and `fluxer userdata render` refuse a heartbeat that cannot keep a message
// invisible (interval × 2 > visibility timeout), by the runtime's own rule: the pairs below are
// also fed to gpu-runtime's load_config, so the two sides cannot drift apart.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heartbeatTooSlow } from '../../src/config/heartbeat.js';
import { runCli, testEnv } from '../support/cli.js';
import { REPO_ROOT, VENV_BIN } from '../support/moto.js';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fluxer-prod-jobs';

function project(stack: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fluxer-heartbeat-'));
  writeFileSync(join(dir, 'fluxer.config.json'), JSON.stringify({ defaultStack: 'prod', stacks: { prod: { region: 'eu-west-1', bucket: 'acme-fluxer-images', ...stack } } }));
  return dir;
}

/** The runtime's verdict on one pair: true when load_config raises ConfigError for the heartbeat. */
function runtimeRefuses(heartbeat: number, visibility: number): boolean {
  const code = [
    'import sys',
    'from fluxer_runtime.config import load_config, ConfigError',
    'try:',
    "    load_config({'FLUXER_ENV_FILE': '/nonexistent', 'FLUXER_HEARTBEAT_SECONDS': sys.argv[1], 'FLUXER_VISIBILITY_SECONDS': sys.argv[2]})",
    'except ConfigError as e:',
    "    print('refused' if 'HEARTBEAT' in str(e) else 'other: ' + str(e))",
    'else:',
    "    print('ok')",
  ].join('\n');
  const r = spawnSync(join(VENV_BIN, 'python'), ['-c', code, String(heartbeat), String(visibility)], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(REPO_ROOT, 'gpu-runtime') } });
  expect(r.status, r.stderr).toBe(0);
  expect(['ok', 'refused']).toContain(r.stdout.trim());
  return r.stdout.trim() === 'refused';
}

const PAIRS: Array<[number, number]> = [
  [30, 300],
  [150, 300],
  [150.5, 300],
  [30, 59],
  [30, 60],
  [0.5, 1],
  [200, 300],
];

describe('heartbeat × 2 > visibility timeout', () => {
  it('the CLI applies exactly the runtime rule (equal is allowed, a fraction over is not)', () => {
    for (const [h, v] of PAIRS) expect(heartbeatTooSlow(h, v), `${h} × 2 vs ${v}`).toBe(runtimeRefuses(h, v));
  });

  it('config show: exit 2 naming both keys, their values and sources; exactly 2× is shown', async () => {
    const bad = await runCli(['config', 'show'], { cwd: project({ visibilityTimeout: 45 }), env: testEnv() });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('heartbeatSeconds=30 (default) times 2 exceeds visibilityTimeout=45 (');
    expect(bad.stderr).toContain('Set heartbeatSeconds to at most 22.5, or visibilityTimeout to at least 60');

    const fromEnv = await runCli(['config', 'show', '--json'], { cwd: project({}), env: testEnv({ FLUXER_HEARTBEAT_SECONDS: '200' }) });
    expect(fromEnv.code).toBe(2);
    expect(JSON.parse(fromEnv.stdout).error).toMatchObject({ code: 'HeartbeatTooSlow', exitCode: 2 });
    expect(fromEnv.stderr).toContain('heartbeatSeconds=200 (env FLUXER_HEARTBEAT_SECONDS) times 2 exceeds visibilityTimeout=300');

    const edge = await runCli(['config', 'show', '--json'], { cwd: project({ visibilityTimeout: 300, heartbeatSeconds: 150 }), env: testEnv() });
    expect(edge.code, edge.stderr).toBe(0);
    expect(JSON.parse(edge.stdout).settings.heartbeatSeconds).toMatchObject({ value: 150 });
  });

  it('userdata render: the heartbeat reaches the env file, and a pair a node would refuse is exit 2 naming both runtime keys', async () => {
    const dir = project({ visibilityTimeout: 300, heartbeatSeconds: 20 });
    const ok = await runCli(['userdata', 'render', '--var', `queue_url=${QUEUE_URL}`], { cwd: dir, env: testEnv() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('FLUXER_HEARTBEAT_SECONDS=20\n');

    const viaVar = await runCli(['userdata', 'render', '--var', `queue_url=${QUEUE_URL}`, '--var', 'heartbeat_seconds=151'], { cwd: dir, env: testEnv() });
    expect(viaVar.code).toBe(2);
    expect(viaVar.stdout).toBe('');
    expect(viaVar.stderr).toContain('FLUXER_HEARTBEAT_SECONDS=151 (template variable heartbeat_seconds from --var) times 2 exceeds FLUXER_VISIBILITY_SECONDS=300 (template variable visibility_seconds from config visibilityTimeout');

    // No queue_url given: the refusal comes before the GetQueueUrl lookup (the endpoint answers nothing).
    const short = project({ visibilityTimeout: 40 });
    const noLookup = await runCli(['userdata', 'render', '--json'], { cwd: short, env: testEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }) });
    expect(noLookup.code).toBe(2);
    expect(JSON.parse(noLookup.stdout).error.code).toBe('HeartbeatTooSlow');
    expect(noLookup.stderr).toContain('FLUXER_HEARTBEAT_SECONDS=30');
    expect(noLookup.stderr).toContain('FLUXER_VISIBILITY_SECONDS=40');

    // A template that sets neither line leaves the runtime's defaults (30, 300): nothing to refuse.
    const custom = join(dir, 'bare.yaml');
    writeFileSync(custom, '#cloud-config\nruncmd:\n  - [echo, "{{ region }}"]\n');
    const bare = await runCli(['userdata', 'render', '--template', custom, '--var', 'heartbeat_seconds=999'], { cwd: dir, env: testEnv() });
    expect(bare.code, bare.stderr).toBe(0);
  });
});
