// `fluxer spot terminate` against moto: only the stack's own nodes, refusals by name, fleet members
// never, --launch-id selects one launch, --dry-run terminates nothing; what it did is read back with
// the real AWS CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { runCli, testEnv } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';
import { launchTestNodes, nodeClients } from '../support/nodes.js';

const endpoint = inject('awsEndpoint');
const KEY = 'SPOTTERM';
const env = testEnv({ AWS_ACCESS_KEY_ID: KEY });
const { ec2 } = nodeClients(endpoint, { accessKeyId: KEY });
const run = promisify(execFile);
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

/** The states the real AWS CLI reports for these instances. */
async function statesByAwsCli(ids: string[]): Promise<Record<string, string>> {
  const { stdout } = await run(
    join(VENV_BIN, 'aws'),
    ['--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json', 'ec2', 'describe-instances', '--instance-ids', ...ids, '--query', 'Reservations[].Instances[].[InstanceId,State.Name]'],
    { env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: 'testing', HOME: '/nonexistent-home' } },
  );
  return Object.fromEntries(JSON.parse(stdout) as Array<[string, string]>);
}

function newStack() {
  const stack = unique('st');
  const cwd = mkdtempSync(join(tmpdir(), 'fluxer-spot-terminate-'));
  writeFileSync(join(cwd, 'fluxer.config.json'), JSON.stringify({ defaultStack: stack, stacks: { [stack]: { bucket: unique('st-bkt') } } }));
  const terminate = (args: string[], opts: { tty?: boolean } = {}) => runCli(['spot', 'terminate', '--endpoint-url', endpoint, ...args], { cwd, env, tty: opts.tty });
  return { stack, cwd, terminate };
}

const gone = (state: string) => ['shutting-down', 'terminated'].includes(state);

describe('fluxer spot terminate', () => {
  it('terminates the nodes given by id; the AWS CLI shows them shutting-down or terminated; the JSON names each', async () => {
    const s = newStack();
    const ids = await launchTestNodes(ec2, { stack: s.stack, launchId: 'l1', count: 2 });
    const r = await s.terminate([...ids, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.unconfirmed).toEqual([]);
    expect(doc.refused).toEqual([]);
    expect(doc.terminated.map((t: any) => t.instanceId).sort()).toEqual([...ids].sort());
    for (const t of doc.terminated) expect([t.previousState, gone(t.state)]).toEqual(['running', true]);
    expect(r.stderr).toContain('Running jobs are released by the node');
    const states = await statesByAwsCli(ids);
    expect(ids.map((id) => gone(states[id]!))).toEqual([true, true]);
  });

  it('refuses an untagged instance and one of another stack by name, exit 2, terminating nothing; --force allows the untagged one', async () => {
    const s = newStack();
    const [ours] = await launchTestNodes(ec2, { stack: s.stack });
    const [untagged] = await launchTestNodes(ec2, {});
    const otherStack = unique('other');
    const [theirs] = await launchTestNodes(ec2, { stack: otherStack });
    const r = await s.terminate([ours!, untagged!, theirs!, '--yes', '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.terminated).toEqual([]);
    expect(Object.fromEntries(doc.refused.map((x: any) => [x.instanceId, x.reason]))).toEqual({
      [untagged!]: expect.stringContaining('not tagged fluxer:managed=true'),
      [theirs!]: expect.stringContaining(`a node of stack "${otherStack}"`),
    });
    expect(r.stderr).toContain(untagged);
    expect(r.stderr).toContain(theirs);
    expect(Object.values(await statesByAwsCli([ours!, untagged!, theirs!]))).toEqual(['running', 'running', 'running']);

    const forced = await s.terminate([untagged!, '--force', '--yes', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout).terminated.map((t: any) => t.instanceId)).toEqual([untagged]);
    expect(gone((await statesByAwsCli([untagged!]))[untagged!]!)).toBe(true);
  });

  it('refuses an Auto Scaling group member even with --force, pointing at `fluxer fleet scale`; --all skips it', async () => {
    const s = newStack();
    const [member] = await launchTestNodes(ec2, { stack: s.stack, tags: { 'aws:autoscaling:groupName': `fluxer-${s.stack}-fleet` } });
    const r = await s.terminate([member!, '--force', '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(member);
    expect(r.stderr).toContain('fluxer fleet scale');
    const [loose] = await launchTestNodes(ec2, { stack: s.stack });
    const all = await s.terminate(['--all', '--yes', '--json']);
    expect(all.code, all.stderr).toBe(0);
    const doc = JSON.parse(all.stdout);
    expect(doc.terminated.map((t: any) => t.instanceId)).toEqual([loose]);
    expect(doc.refused.map((x: any) => x.instanceId)).toEqual([member]);
    const states = await statesByAwsCli([member!, loose!]);
    expect([states[member!], gone(states[loose!]!)]).toEqual(['running', true]);
  });

  it('--launch-id selects only that launch', async () => {
    const s = newStack();
    const first = await launchTestNodes(ec2, { stack: s.stack, launchId: 'launch-a', count: 2 });
    const second = await launchTestNodes(ec2, { stack: s.stack, launchId: 'launch-b' });
    const r = await s.terminate(['--launch-id', 'launch-a', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).terminated.map((t: any) => t.instanceId).sort()).toEqual([...first].sort());
    const states = await statesByAwsCli([...first, ...second]);
    expect([...first, ...second].map((id) => gone(states[id]!))).toEqual([true, true, false]);
    const again = await s.terminate(['--launch-id', 'launch-a', '--yes', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('Nothing to terminate');
  });

  it('without --yes and not on a terminal: exit 2 and nothing terminated; --dry-run asks EC2 and terminates nothing', async () => {
    const s = newStack();
    const [id] = await launchTestNodes(ec2, { stack: s.stack });
    const r = await s.terminate([id!]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--yes');
    const dry = await s.terminate([id!, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, wouldTerminate: [id], terminated: [] });
    expect(dry.stderr).toContain('Nothing was terminated');
    expect(await statesByAwsCli([id!])).toEqual({ [id!]: 'running' });
  });

  it('on a terminal it shows what it will terminate and asks; a "no" terminates nothing', async () => {
    const s = newStack();
    const [id] = await launchTestNodes(ec2, { stack: s.stack, launchId: 'asked' });
    const questions: string[] = [];
    const prompter = { confirm: async (q: string) => (questions.push(q), false), input: async () => '', select: async () => '' as never };
    const r = await runCli(['spot', 'terminate', id!, '--endpoint-url', endpoint], { cwd: s.cwd, env, tty: true, prompter });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${id}  g5.xlarge`);
    expect(questions).toEqual([`Terminate 1 node(s) of stack "${s.stack}"?`]);
    expect(await statesByAwsCli([id!])).toEqual({ [id!]: 'running' });
  });
});
