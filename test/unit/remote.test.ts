// The runtime commands' core without a server: target flags (exit 2 before anything is sent), the
// poll schedule and invocation tracking on a fake clock, the engine against a scripted SSM port (the
// AWS boundary: its answers are AWS's documented shapes and errors), and shell quoting through real bash.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { SsmRunPort } from '../../src/core/remote/run.js';
import { s3KeyFromUrl } from '../../src/core/remote/output.js';
import { runOnNodes } from '../../src/core/remote/run.js';
import { InvocationTracker, PollSchedule } from '../../src/core/remote/poll.js';
import { execScript, runtimeScript, shellJoin, shellQuote } from '../../src/core/remote/scripts.js';
import { parseTargets } from '../../src/core/remote/targets.js';
import { logsArgs, parseLogs, statusRow } from '../../src/core/remote/runtime.js';
import type { Clock } from '../../src/lib/clock.js';
import { ExitCode, UsageError } from '../../src/lib/errors.js';
import { runCli, testEnv } from '../support/cli.js';

const A = 'i-0123456789abcdef0';
const B = 'i-0123456789abcdef1';

function fakeClock(): Clock & { sleeps: number[] } {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.Usage);
    return err as UsageError;
  }
  throw new Error('no UsageError');
}

describe('target flags', () => {
  it('needs exactly one of --node, --launch-id, --all, each valid, and names the flags', () => {
    expect(usage(() => parseTargets({}, 'status')).message).toMatch(/--node ID \(repeatable\), --launch-id ID or --all/);
    expect(usage(() => parseTargets({ node: [A], all: true }, 'status')).message).toMatch(/exactly one of .*got --node and --all/);
    expect(usage(() => parseTargets({ launchId: 'x', all: true }, 'status')).message).toMatch(/got --launch-id and --all/);
    expect(usage(() => parseTargets({ node: [A, 'i-nothex'] }, 'status')).message).toBe('--node "i-nothex": not an instance id (i- and 8 or 17 hex digits, e.g. i-0123456789abcdef0)');
    expect(usage(() => parseTargets({ launchId: 'bad id' }, 'status')).message).toMatch(/--launch-id "bad id": not a launch id/);
    expect(parseTargets({ node: [A, B, A] }, 'status')).toEqual({ kind: 'nodes', ids: [A, B] });
    expect(parseTargets({ launchId: '0193a1b2' }, 'status')).toEqual({ kind: 'launch', launchId: '0193a1b2' });
    expect(parseTargets({ all: true }, 'status')).toEqual({ kind: 'all' });
  });

  it('the commands refuse bad flags with exit 2 before any AWS call (the endpoint does not exist)', async () => {
    const env = testEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
    const cases: Array<[string[], RegExp]> = [
      [['runtime', 'status'], /Say which nodes/],
      [['runtime', 'status', '--node', A, '--all'], /exactly one of/],
      [['runtime', 'status', '--all', '--timeout', '1s'], /--timeout "1s": must be between 5s and 1h/],
      [['runtime', 'logs', '--all', '--lines', '0'], /--lines "0": must be an integer from 1 to 100000/],
      [['runtime', 'logs', '--all', '--since', 'soon'], /--since "soon": not a duration/],
      [['runtime', 'exec', '--all', '--', 'true'], /needs --yes when not run interactively/],
      [['runtime', 'exec', '--node', A], /missing required argument|Give the command/i],
      [['runtime', 'drain', '--all', '--wait', '--timeout', 'x'], /--timeout "x": not a duration/],
      [['runtime', 'restart', '--node', 'i-1'], /--node "i-1": not an instance id/],
    ];
    for (const [argv, re] of cases) {
      const r = await runCli(argv, { env });
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/ECONNREFUSED|connect/);
    }
  });
});

describe('poll schedule', () => {
  it('starts at 50 ms, backs off ×1.6 to 1 s, ends its last wait at the deadline, then says deadline', () => {
    const clock = fakeClock();
    const s = new PollSchedule(clock.now() + 5000);
    const raw: number[] = [];
    for (;;) {
      const step = s.next(clock.now());
      if (step.kind === 'deadline') break;
      raw.push(step.ms);
      clock.now = ((t) => () => t)(clock.now() + step.ms);
    }
    const waits = raw.map((ms) => Math.round(ms * 10) / 10);
    expect(waits.slice(0, 7)).toEqual([50, 80, 128, 204.8, 327.7, 524.3, 838.9]);
    expect(waits.slice(7, 9)).toEqual([1000, 1000]);
    expect(raw.reduce((a, b) => a + b, 0)).toBeCloseTo(5000, 6);
    expect(Math.max(...waits)).toBe(1000);
  });

  it('tracks each node pending until a terminal status, ignores others, keeps the first terminal answer', () => {
    const t = new InvocationTracker('cmd', [A, B]);
    expect(t.observe([])).toEqual([]);
    expect(t.pending).toEqual([A, B]);
    expect(t.observe([{ instanceId: A, status: 'InProgress' }, { instanceId: 'i-other', status: 'Success' }])).toEqual([]);
    expect(t.statusOf(A)).toBe('InProgress');
    expect(t.observe([{ instanceId: A, status: 'Success', responseCode: 0 }, { instanceId: B, status: 'Cancelling' }]).map((v) => v.instanceId)).toEqual([A]);
    expect(t.observe([{ instanceId: A, status: 'Failed' }])).toEqual([]);
    expect(t.pending).toEqual([B]);
    t.observe([{ instanceId: B, status: 'TimedOut' }]);
    expect(t.done).toBe(true);
  });
});

/** SSM as documented: InvocationDoesNotExist for the first `notYet` lists, then the scripted statuses. */
function scriptedSsm(opts: { online: string[]; lost?: string[]; finishAfterPolls?: Record<string, number>; output?: Record<string, { stdout: string; stderr?: string; code?: number }>; notYet?: number; getNotYet?: number }) {
  const calls = { send: [] as string[][], list: 0, get: 0, cancel: [] as string[][], describe: 0 };
  let polls = 0;
  const notFound = Object.assign(new Error('invocation not yet'), { name: 'InvocationDoesNotExist', $metadata: { httpStatusCode: 400 } });
  const ssm: SsmRunPort = {
    describeInstanceInformation: async (input) => {
      calls.describe++;
      const ids = input.Filters?.[0]?.Values ?? [];
      return { $metadata: {}, InstanceInformationList: ids.filter((id) => opts.online.includes(id) || opts.lost?.includes(id)).map((id) => ({ InstanceId: id, PingStatus: opts.online.includes(id) ? 'Online' : 'ConnectionLost' })) };
    },
    sendCommand: async (input) => {
      calls.send.push(input.InstanceIds ?? []);
      expect(input.DocumentName).toBe('AWS-RunShellScript');
      expect(input.TimeoutSeconds).toBeGreaterThanOrEqual(30);
      return { $metadata: {}, Command: { CommandId: `cmd-${calls.send.length}`, InstanceIds: input.InstanceIds } };
    },
    listCommandInvocations: async (input) => {
      calls.list++;
      polls++;
      if (polls <= (opts.notYet ?? 0)) throw notFound;
      const batch = calls.send[Number(String(input.CommandId).slice(4)) - 1]!;
      return {
        $metadata: {},
        CommandInvocations: batch.map((id) => {
          const done = polls >= (opts.finishAfterPolls?.[id] ?? 1);
          const out = opts.output?.[id] ?? { stdout: `hello from ${id}\n` };
          return { InstanceId: id, Status: done ? (out.code ? 'Failed' : 'Success') : 'InProgress', CommandPlugins: [{ ResponseCode: done ? (out.code ?? 0) : -1, Output: done ? out.stdout + (out.stderr ? `\n----------ERROR-------\n${out.stderr}` : '') : '' }] };
        }),
      };
    },
    getCommandInvocation: async (input) => {
      calls.get++;
      if (calls.get <= (opts.getNotYet ?? 0)) throw notFound;
      const out = opts.output?.[input.InstanceId!] ?? { stdout: `hello from ${input.InstanceId}\n` };
      return { $metadata: {}, Status: out.code ? 'Failed' : 'Success', ResponseCode: out.code ?? 0, StandardOutputContent: out.stdout.slice(0, 24000), StandardErrorContent: (out.stderr ?? '').slice(0, 8000) };
    },
    cancelCommand: async (input) => {
      calls.cancel.push(input.InstanceIds ?? []);
      return { $metadata: {} };
    },
  };
  return { ssm, calls };
}

describe('run engine (scripted SSM port, fake clock)', () => {
  it('treats InvocationDoesNotExist right after sending as pending, reports offline nodes unsent, reads stderr', async () => {
    const clock = fakeClock();
    const { ssm, calls } = scriptedSsm({ online: [A, B], lost: ['i-0000000000000000c'], notYet: 2, getNotYet: 3, output: { [B]: { stdout: 'out\n', stderr: 'err\n', code: 3 } } });
    const results = await runOnNodes({ ssm }, clock, { instanceIds: [A, B, 'i-0000000000000000c', 'i-0000000000000000d'], script: 'true', comment: 't', executionTimeoutSeconds: 60, waitMs: 10_000 });
    expect(calls.send).toEqual([[A, B]]);
    // Three lists (two InvocationDoesNotExist), then Get retried past its own InvocationDoesNotExist.
    expect(clock.sleeps.slice(0, 3)).toEqual([50, 80, 128]);
    expect(calls.get).toBe(5);
    expect(results.map((r) => [r.instanceId, r.ok, r.status, r.exitCode])).toEqual([
      [A, true, 'Success', 0],
      [B, false, 'Failed', 3],
      ['i-0000000000000000c', false, 'Offline', null],
      ['i-0000000000000000d', false, 'Offline', null],
    ]);
    expect(results[1]).toMatchObject({ stdout: 'out\n', stderr: 'err\n', error: 'exited with 3' });
    expect(results[2]!.error).toMatch(/SSM agent ConnectionLost: not sent/);
    expect(results[3]!.error).toMatch(/not registered with SSM/);
    expect(calls.cancel).toEqual([]);
  });

  it('one SendCommand per 50 nodes; with stdoutOnly a short inline output needs no GetCommandInvocation', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);
    const { ssm, calls } = scriptedSsm({ online: ids });
    const results = await runOnNodes({ ssm }, fakeClock(), { instanceIds: ids, script: 'true', comment: 't', executionTimeoutSeconds: 60, waitMs: 10_000, stdoutOnly: true });
    expect(calls.send.map((b) => b.length)).toEqual([50, 10]);
    expect(calls.describe).toBe(2);
    expect(calls.get).toBe(0);
    expect(results.every((r) => r.ok && r.stdout === `hello from ${r.instanceId}\n`)).toBe(true);
  });

  it('at the deadline the nodes not done are cancelled and reported timed out; the others answer', async () => {
    const clock = fakeClock();
    const { ssm, calls } = scriptedSsm({ online: [A, B], finishAfterPolls: { [B]: 1_000_000 } });
    const t0 = clock.now();
    const results = await runOnNodes({ ssm }, clock, { instanceIds: [A, B], script: 'sleep 1000', comment: 't', executionTimeoutSeconds: 60, waitMs: 3000 });
    expect(clock.now() - t0).toBe(3000);
    expect(results[0]).toMatchObject({ ok: true, stdout: `hello from ${A}\n` });
    expect(results[1]).toMatchObject({ ok: false, status: 'TimedOut' });
    expect(results[1]!.error).toMatch(/no result within 3s \(last status InProgress\); the command was cancelled/);
    expect(calls.cancel).toEqual([[B]]);
  });

  it('finds the S3 key in the output URLs SSM gives', () => {
    expect(s3KeyFromUrl('https://s3.us-east-1.amazonaws.com/bkt/p/ssm-output/c/i-1/awsrunShellScript/0.awsrunShellScript/stdout', 'bkt')).toBe('p/ssm-output/c/i-1/awsrunShellScript/0.awsrunShellScript/stdout');
    expect(s3KeyFromUrl('https://bkt.s3.amazonaws.com/p/x/stderr', 'bkt')).toBe('p/x/stderr');
    expect(s3KeyFromUrl('', 'bkt')).toBeUndefined();
  });
});

describe('shell quoting', () => {
  const tricky = ['plain', 'two words', "it's", '"double"', '$HOME', '$(touch /tmp/fluxer-pwned)', 'a;b', '`id`', 'back\\slash', '', 'new\nline', '*', "''", 'tab\there'];

  it('every argument reaches the program exactly as given (real bash)', () => {
    const out = execFileSync('bash', ['-c', `printf '%s\\0' ${shellJoin(tricky)}`]);
    expect(out.toString('utf8').split('\0').slice(0, -1)).toEqual(tricky);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('exec and runtime scripts run as given on an emulated node (FLUXER_ROOT set: no runuser)', () => {
    const env = { PATH: process.env.PATH, FLUXER_ROOT: '/tmp' };
    const out = execFileSync('bash', ['-c', execScript(['printf', '%s\\0', ...tricky])], { env });
    expect(out.toString('utf8').split('\0').slice(0, -1)).toEqual(tricky);
    const sh = execFileSync('sh', ['-c', execScript(['sh', '-c', 'echo "$0 $1"', 'x y', '$z'])], { env });
    expect(sh.toString()).toBe('x y $z\n');
    expect(runtimeScript(['status'])).toContain(`"\${FLUXER_ROOT:-}/opt/fluxer/venv/bin/fluxer-runtime" 'status'`);
    expect(runtimeScript(['status'])).toContain('runuser -u ubuntu --');
    // restart runs `systemctl restart fluxer-runtime` on a real node: as root (SSM's user), never via runuser.
    expect(runtimeScript(['restart'])).toBe(`exec "\${FLUXER_ROOT:-}/opt/fluxer/venv/bin/fluxer-runtime" 'restart'`);
  });
});

describe('runtime answers', () => {
  const base = { instanceId: A, ok: true, error: null, status: 'Success', exitCode: 0, stdout: '', stderr: '', agent: 'Online', commandId: 'c' };
  it('status: ok for serving states, not for FAILED or an unreachable runtime', () => {
    expect(statusRow({ ...base, stdout: JSON.stringify({ state: 'DRAINING' }), exitCode: 1, ok: false, error: 'exited with 1' })).toMatchObject({ ok: true, error: null });
    expect(statusRow({ ...base, stdout: JSON.stringify({ state: 'FAILED', stateReason: 'model did not load' }), exitCode: 1 })).toMatchObject({ ok: false, error: 'runtime FAILED: model did not load' });
    expect(statusRow({ ...base, stdout: JSON.stringify({ state: null, error: 'no state file' }), exitCode: 3 })).toMatchObject({ ok: false, error: 'runtime not reachable: no state file' });
    expect(statusRow({ ...base, stdout: 'bash: fluxer-runtime: not found', exitCode: 127, ok: false, error: 'exited with 127' })).toMatchObject({ ok: false, error: 'exited with 127' });
  });
  it('logs: JSON lines and the cursor from the last stderr line', () => {
    const r = parseLogs({ ...base, stdout: '{"ts":"2026-12-03T10:00:00Z","level":"info","msg":"a"}\nnot json\n', stderr: 'fluxer-cursor: old\nfluxer-cursor: c2\n' });
    expect(r.lines).toEqual([{ ts: '2026-12-03T10:00:00Z', level: 'info', msg: 'a' }, 'not json']);
    expect(r.cursor).toBe('c2');
    expect(logsArgs({ sinceSeconds: 600, lines: 5 })).toEqual(['logs', '--since', '600', '--lines', '5']);
    expect(logsArgs({ sinceSeconds: 600, lines: 5, cursor: 'c2' })).toEqual(['logs', '--cursor', 'c2']);
  });
});
