// `fluxer fleet up|status|scale|roll|down` on the local stack: moto's Auto Scaling holds the group, its
// template, policy and desired capacity; the emulator runs instance refreshes (moto has none); the node
// agent makes each of the group's instances a real runtime worker (they carry the stack's node tags,
// propagated by the group). As a user runs it: bin/fluxer, the AWS CLI to look at what fluxer left.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setStandinQuotas } from '../../src/emulator/quotas.js';
import { runBin } from '../support/cli.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-fleet-'));
const localDir = join(project, '.fluxer', 'local');
// A checkout's own gpu-runtime first (PYTHONPATH): the nodes answer the fleet's termination hook with the runtime under test.
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1', ...(process.env.PYTHONPATH ? { PYTHONPATH: process.env.PYTHONPATH } : {}) };
const fluxer = (...argv: string[]) => runBin([...argv, '--stack', 'local'], { cwd: project, env, timeoutMs: 240_000 });
const GROUP = 'fluxer-local-fleet';
let endpoint = '';

function aws(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args], { env: awsEnv, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })));
}
async function awsJson<T>(args: string[]): Promise<T> {
  const r = await aws([...args, '--output', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

interface Group {
  AutoScalingGroupARN: string;
  MinSize: number;
  MaxSize: number;
  DesiredCapacity: number;
  CapacityRebalance: boolean;
  EnabledMetrics: Array<{ Metric: string }>;
  MixedInstancesPolicy: { LaunchTemplate: { LaunchTemplateSpecification: { LaunchTemplateName: string; Version: string }; Overrides: Array<{ InstanceType: string }> }; InstancesDistribution: Record<string, unknown> };
  Tags: Array<{ Key: string; Value: string; PropagateAtLaunch: boolean }>;
  Instances: Array<{ InstanceId: string; LifecycleState: string }>;
}
const group = async (): Promise<Group | undefined> => (await awsJson<{ AutoScalingGroups: Group[] }>(['autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', GROUP])).AutoScalingGroups[0];

async function jobStatus(id: string): Promise<{ state: string; attempt?: number; node?: { instanceId: string } } | undefined> {
  const r = await aws(['s3', 'cp', `s3://fluxer-local/fluxer/jobs/${id}/status.json`, '-']);
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}
async function submit(...extra: string[]): Promise<string> {
  const r = await fluxer('generate', 'a lighthouse', '--json', ...extra);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}
/** The fleet's nodes whose worker is READY or BUSY (`fluxer runtime status` over SSM). */
async function readyNodes(ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const r = await fluxer('runtime', 'status', '--json', ...ids.flatMap((id) => ['--node', id]));
  const nodes = (JSON.parse(r.stdout || '{"nodes":[]}') as { nodes: Array<{ instanceId: string; state: string | null }> }).nodes;
  return nodes.filter((n) => n.state === 'READY' || n.state === 'BUSY').map((n) => n.instanceId).sort();
}
const members = async () => ((await group())?.Instances ?? []).filter((i) => i.LifecycleState === 'InService').map((i) => i.InstanceId).sort();

describe('fluxer fleet on the local stack (moto Auto Scaling, local workers)', () => {
  beforeAll(async () => {
    const up = await fluxer('local', 'up', '--workers', '0', '--json');
    expect(up.code, up.stderr).toBe(0);
    endpoint = (JSON.parse(up.stdout) as { endpoint: string }).endpoint;
    // A promoted release, as after `fluxer runtime publish --promote` (fleet up would publish one).
    expect((await aws(['ssm', 'put-parameter', '--name', '/fluxer/local/runtime-release', '--type', 'String', '--value', '0.1.0-local'])).code).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await runBin(['local', 'down'], { cwd: project, env, timeoutMs: 60_000 });
    for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        if (readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').includes(`FLUXER_LOCAL_DIR=${localDir}`)) process.kill(Number(e), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(project, { recursive: true, force: true });
  }, 90_000);

  it('fleet up --dry-run shows the plan and sends no change', async () => {
    const r = await fluxer('fleet', 'up', '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { resources: Array<{ type: string; action: string }> };
    expect(doc.resources.map((x) => [x.type, x.action])).toEqual([['launch-template', 'would-create'], ['auto-scaling-group', 'would-create'], ['scaling-policy', 'would-create'], ['scaling-policy', 'would-create'], ['alarm', 'would-create'], ['node-role-policy', 'would-create']]);
    expect(await group()).toBeUndefined();
  }, 60_000);

  it('fleet up checks the spot vCPU quota against --max: a note when it holds fewer nodes, exit 5 and no change when it holds none', async () => {
    const quota = (value: number) => setStandinQuotas(endpoint, [{ serviceCode: 'ec2', quotaCode: 'L-3819A6DF', value }]);
    try {
      await quota(4); // one 4-vCPU node
      const few = await fluxer('fleet', 'up', '--dry-run', '--json', '--max', '4');
      expect(few.code, few.stderr).toBe(0);
      expect(few.stderr).toContain("L-3819A6DF (All G and VT Spot Instance Requests) is 4 vCPUs: at most 1 of the fleet's --max 4 nodes");
      expect(few.stderr).toContain('--desired-value 16');
      expect((JSON.parse(few.stdout) as { capacity: { quotas: Array<{ nodes: number }> } }).capacity.quotas[0]).toMatchObject({ nodes: 1 });
      await quota(2);
      const none = await fluxer('fleet', 'up', '--yes', '--json');
      expect(none.code, none.stderr).toBe(5);
      expect(none.stdout).toContain('SpotQuotaExceeded');
      expect(await group()).toBeUndefined();
    } finally {
      await quota(64); // the local stack's sample quota (docs/local.md)
    }
  }, 60_000);

  it('fleet up: mixed-instances spot group, Capacity Rebalancing, backlog target tracking with scale-in disabled, an IMDSv2 template without key pair, the node role scoped to the group', async () => {
    const r = await fluxer('fleet', 'up', '--yes', '--json', '--max', '4', '--jobs-per-node', '3');
    expect(r.code, r.stderr).toBe(0);
    const g = (await group())!;
    expect(g.MinSize).toBe(0);
    expect(g.MaxSize).toBe(4);
    expect(g.DesiredCapacity).toBe(0);
    expect(g.CapacityRebalance).toBe(true);
    expect(g.EnabledMetrics.map((m) => m.Metric)).toContain('GroupInServiceInstances');
    expect(g.MixedInstancesPolicy.InstancesDistribution).toMatchObject({ OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 0, SpotAllocationStrategy: 'price-capacity-optimized' });
    expect(g.MixedInstancesPolicy.LaunchTemplate.Overrides.map((o) => o.InstanceType)).toEqual(['g6e.xlarge', 'g5.xlarge', 'g6.xlarge']);
    expect(g.Tags.filter((t) => t.PropagateAtLaunch).map((t) => `${t.Key}=${t.Value}`)).toEqual(expect.arrayContaining(['fluxer:managed=true', 'fluxer:stack=local', 'fluxer:role=gpu-node']));

    const policies = await awsJson<{ ScalingPolicies: Array<{ PolicyName: string; PolicyType: string; TargetTrackingConfiguration: { TargetValue: number; DisableScaleIn: boolean; CustomizedMetricSpecification: { Metrics: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string } } }> } } }> }>(['autoscaling', 'describe-policies', '--auto-scaling-group-name', GROUP]);
    const p = policies.ScalingPolicies[0]!;
    expect(p.PolicyType).toBe('TargetTrackingScaling');
    expect(p.TargetTrackingConfiguration.TargetValue).toBe(3);
    expect(p.TargetTrackingConfiguration.DisableScaleIn).toBe(true);
    const metrics = p.TargetTrackingConfiguration.CustomizedMetricSpecification.Metrics;
    expect(metrics.map((m) => m.MetricStat?.Metric.MetricName ?? m.Expression)).toEqual(['ApproximateNumberOfMessagesVisible', 'ApproximateNumberOfMessagesNotVisible', 'GroupInServiceInstances', '(visible + inflight) / inservice']);

    const versions = await awsJson<{ LaunchTemplateVersions: Array<{ LaunchTemplateData: Record<string, unknown> & { MetadataOptions: { HttpTokens: string }; UserData: string } }> }>(['ec2', 'describe-launch-template-versions', '--launch-template-name', GROUP, '--versions', '$Default']);
    const data = versions.LaunchTemplateVersions[0]!.LaunchTemplateData;
    expect(data.MetadataOptions.HttpTokens).toBe('required');
    expect(data.KeyName).toBeUndefined();
    expect(data.InstanceMarketOptions).toBeUndefined();
    expect(Buffer.from(data.UserData, 'base64').toString('utf8')).toContain(`FLUXER_ASG_NAME=${GROUP}`);

    const nodePolicy = await awsJson<{ PolicyDocument: { Statement: Array<{ Action: string[]; Resource: string }> } }>(['iam', 'get-role-policy', '--role-name', 'fluxer-local-node', '--policy-name', 'fluxer-node-fleet']);
    expect(nodePolicy.PolicyDocument.Statement.map((s) => s.Resource)).toEqual([g.AutoScalingGroupARN, '*']);
    const hooks = await awsJson<{ LifecycleHooks: Array<{ LifecycleHookName: string; LifecycleTransition: string; DefaultResult: string }> }>(['autoscaling', 'describe-lifecycle-hooks', '--auto-scaling-group-name', GROUP]);
    expect(hooks.LifecycleHooks.map((h) => [h.LifecycleHookName, h.LifecycleTransition, h.DefaultResult])).toEqual([['fluxer-node-drain', 'autoscaling:EC2_INSTANCE_TERMINATING', 'CONTINUE']]);
  }, 120_000);

  it('a second fleet up changes nothing', async () => {
    const r = await fluxer('fleet', 'up', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { resources: Array<{ type: string; action: string; changes: unknown[] }> };
    expect(doc.resources.map((x) => [x.type, x.action, x.changes])).toEqual([['launch-template', 'unchanged', []], ['auto-scaling-group', 'unchanged', []], ['scaling-policy', 'unchanged', []], ['scaling-policy', 'unchanged', []], ['alarm', 'unchanged', []], ['node-role-policy', 'unchanged', []]]);
  }, 60_000);

  it('fleet scale 2 starts two local workers that take jobs; fleet status shows them and the queue', async () => {
    const r = await fluxer('fleet', 'scale', '2', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ before: { desired: 0 }, after: { desired: 2, min: 0, max: 4 } });
    const ids = await members();
    expect(ids).toHaveLength(2);
    await expect.poll(() => readyNodes(ids), { timeout: 120_000, interval: 500 }).toEqual(ids);
    const jobs = await Promise.all([submit(), submit(), submit()]);
    for (const id of jobs) await expect.poll(async () => (await jobStatus(id))?.state, { timeout: 90_000, interval: 300 }).toBe('succeeded');
    for (const id of jobs) expect(ids).toContain((await jobStatus(id))!.node!.instanceId);

    const s = await fluxer('fleet', 'status', '--json');
    expect(s.code, s.stderr).toBe(0);
    const status = JSON.parse(s.stdout) as { desired: number; inService: number; nodes: Array<{ instanceId: string; instanceType: string; az: string; templateVersion: string }>; queue: { visible: number; inFlight: number } };
    expect(status).toMatchObject({ desired: 2, inService: 2, queue: { visible: 0, inFlight: 0 } });
    expect(status.nodes.map((n) => n.instanceId).sort()).toEqual(ids);
    expect(status.nodes.every((n) => n.instanceType === 'g6e.xlarge' && n.az !== '')).toBe(true);
  }, 300_000);

  it('fleet roll replaces both nodes with a new template version, keeping two serving; a running job finishes where it runs', async () => {
    const before = await members();
    const long = await submit('--size', '512x512', '--steps', '30', '--count', '4');
    await expect.poll(async () => (await jobStatus(long))?.state, { timeout: 60_000, interval: 100 }).toBe('running');
    const busy = (await jobStatus(long))!.node!.instanceId;
    const r = await fluxer('fleet', 'roll', '--release', '0.1.0-local', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    // The busy node was released only after its job: it ran to the end there, once.
    expect(await jobStatus(long)).toMatchObject({ state: 'succeeded', node: { instanceId: busy }, attempt: 1 });
    const doc = JSON.parse(r.stdout) as { version: number; newVersion: boolean; replaced: string[]; status: string };
    expect(doc).toMatchObject({ version: 2, newVersion: true, status: 'Successful' });
    expect(doc.replaced.sort()).toEqual(before);
    expect(r.stderr).toMatch(/draining/);
    const after = await members();
    expect(after).toHaveLength(2);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
    const tags = await awsJson<{ Reservations: Array<{ Instances: Array<{ Tags: Array<{ Key: string; Value: string }> }> }> }>(['ec2', 'describe-instances', '--instance-ids', ...after]);
    for (const i of tags.Reservations.flatMap((x) => x.Instances)) expect(i.Tags.find((t) => t.Key === 'aws:ec2launchtemplate:version')?.Value).toBe('2');
    await expect.poll(() => readyNodes(after), { timeout: 120_000, interval: 500 }).toEqual(after);
  }, 300_000);

  it('fleet down --drain lets the running job finish, then leaves nothing fluxer created', async () => {
    const dry = await fluxer('fleet', 'down', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect((JSON.parse(dry.stdout) as { items: Array<{ type: string }> }).items.map((i) => i.type)).toEqual(['scaling-policy', 'scaling-policy', 'alarm', 'auto-scaling-group', 'launch-template', 'node-role-policy']);
    const long = await submit('--size', '512x512', '--steps', '30', '--count', '4');
    await expect.poll(async () => (await jobStatus(long))?.state, { timeout: 60_000, interval: 100 }).toBe('running');
    const nodes = await members();
    expect(nodes.length).toBeGreaterThan(0);
    const r = await fluxer('fleet', 'down', '--drain', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const job = (await jobStatus(long))!;
    expect(job.state).toBe('succeeded');
    expect(await group()).toBeUndefined();
    // Its nodes are gone with it: none left running once the group is deleted.
    const states = await awsJson<{ Reservations: Array<{ Instances: Array<{ State: { Name: string } }> }> }>(['ec2', 'describe-instances', '--instance-ids', ...nodes]);
    for (const i of states.Reservations.flatMap((x) => x.Instances)) expect(['shutting-down', 'terminated']).toContain(i.State.Name);
    expect((await aws(['ec2', 'describe-launch-templates', '--launch-template-names', GROUP])).code).toBe(1);
    expect((await aws(['iam', 'get-role-policy', '--role-name', 'fluxer-local-node', '--policy-name', 'fluxer-node-fleet'])).code).toBe(1);
    // What setup made stays.
    expect((await aws(['iam', 'get-role', '--role-name', 'fluxer-local-node'])).code).toBe(0);
    const again = await fluxer('fleet', 'down', '--yes', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { items: unknown[] }).items).toEqual([]);
  }, 300_000);
});
