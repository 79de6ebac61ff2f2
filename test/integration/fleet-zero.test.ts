// Scale from zero on the local stack: `generate` on a stack with no fleet sends no Auto Scaling write
// (and, once it knows, no Auto Scaling call at all); `fleet up` makes the backstop (a step policy and
// its alarm: moto stores them and never evaluates them, so only their documents are checked); a fleet
// at 0 is raised to 1 by `generate --wait`, the node agent runs the node as a worker and the job
// succeeds; a caller refused SetDesiredCapacity gets a note and exit 0; `fleet down` removes it all.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standinRequests } from '../../src/emulator/prices.js';
import { runBin } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { VENV_BIN } from '../support/moto.js';

const project = mkdtempSync(join(tmpdir(), 'fluxer-fleet-zero-'));
const localDir = join(project, '.fluxer', 'local');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: project, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NO_COLOR: '1' };
const fluxer = (argv: string[], extraEnv: NodeJS.ProcessEnv = {}) => runBin([...argv, '--stack', 'local'], { cwd: project, env: { ...env, ...extraEnv }, timeoutMs: 240_000 });
const GROUP = 'fluxer-local-fleet';
const ALARM = `${GROUP}-scale-from-zero`;
/** Auto Scaling's query actions, as the emulator's request log names them. */
const ASG_ACTIONS = /AutoScaling|DesiredCapacity|ScalingPolic|InstanceProtection|LifecycleAction|ScalingActivities|InstanceRefresh/;
let endpoint = '';
let proxy: FaultProxy | undefined;

function aws(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const awsEnv = { PATH: process.env.PATH, HOME: project, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_DEFAULT_REGION: 'us-east-1' };
  return new Promise((resolve) => execFile(join(VENV_BIN, 'aws'), ['--endpoint-url', endpoint, ...args, '--output', 'json'], { env: awsEnv, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })));
}
async function awsJson<T>(args: string[]): Promise<T> {
  const r = await aws(args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}
interface Group { DesiredCapacity: number; MinSize: number; MaxSize: number; Instances: Array<{ InstanceId: string; LifecycleState: string }> }
const group = async () => (await awsJson<{ AutoScalingGroups: Group[] }>(['autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', GROUP])).AutoScalingGroups[0];
const keyEnv = (key: string) => ({ AWS_ACCESS_KEY_ID: key, AWS_SECRET_ACCESS_KEY: 'testing' });

describe('scale from zero on the local stack', () => {
  beforeAll(async () => {
    const up = await fluxer(['local', 'up', '--workers', '0', '--json']);
    expect(up.code, up.stderr).toBe(0);
    endpoint = (JSON.parse(up.stdout) as { endpoint: string }).endpoint;
    expect((await aws(['ssm', 'put-parameter', '--name', '/fluxer/local/runtime-release', '--type', 'String', '--value', '0.1.0-local'])).code).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await proxy?.stop();
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

  it('a stack without a fleet: no Auto Scaling write; one look, then none while it remembers', async () => {
    const first = await fluxer(['generate', 'no fleet here', '--model', 'tiny', '--json'], keyEnv('ZERONOFLEET1'));
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ state: 'queued', fleet: null });
    expect(first.stderr).not.toMatch(/fleet/i);
    expect((await standinRequests(endpoint, 'ZERONOFLEET1')).filter((a) => ASG_ACTIONS.test(a))).toEqual(['DescribeAutoScalingGroups']);

    const second = await runBin(['generate', '--batch', '-', '--model', 'tiny', '--json', '--stack', 'local'], { cwd: project, env: { ...env, ...keyEnv('ZERONOFLEET2') }, input: 'one\ntwo\n', timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toHaveLength(2);
    expect((await standinRequests(endpoint, 'ZERONOFLEET2')).filter((a) => ASG_ACTIONS.test(a))).toEqual([]);
  }, 120_000);

  it('fleet up makes the backstop: a +1 step policy and an alarm on jobs waiting while desired is 0, tagged; a second run changes nothing; drift is reported and corrected', async () => {
    const r = await fluxer(['fleet', 'up', '--min', '0', '--max', '2', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { resources: Array<{ type: string; name: string; action: string }> };
    expect(doc.resources.map((x) => [x.type, x.name, x.action]).slice(2, 5)).toEqual([
      ['scaling-policy', 'fluxer-backlog-per-instance', 'created'], ['scaling-policy', 'fluxer-scale-from-zero', 'created'], ['alarm', ALARM, 'created'],
    ]);
    expect((await group())!.DesiredCapacity).toBe(0);

    const policies = await awsJson<{ ScalingPolicies: Array<{ PolicyName: string; PolicyARN: string; PolicyType: string; AdjustmentType: string; StepAdjustments: unknown[]; EstimatedInstanceWarmup: number }> }>(['autoscaling', 'describe-policies', '--auto-scaling-group-name', GROUP, '--policy-names', 'fluxer-scale-from-zero']);
    const p = policies.ScalingPolicies[0]!;
    expect(p).toMatchObject({ PolicyType: 'StepScaling', AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }], EstimatedInstanceWarmup: 600 });

    const alarms = await awsJson<{ MetricAlarms: Array<{ AlarmArn: string; AlarmActions: string[]; ComparisonOperator: string; Threshold: number; EvaluationPeriods: number; DatapointsToAlarm: number; TreatMissingData: string; Metrics: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: Array<{ Value: string }> }; Period: number } }> }> }>(['cloudwatch', 'describe-alarms', '--alarm-names', ALARM]);
    const a = alarms.MetricAlarms[0]!;
    expect(a).toMatchObject({ AlarmActions: [p.PolicyARN], ComparisonOperator: 'GreaterThanThreshold', Threshold: 0, EvaluationPeriods: 1, DatapointsToAlarm: 1, TreatMissingData: 'notBreaching' });
    expect(a.Metrics.map((m) => m.MetricStat ? `${m.MetricStat.Metric.MetricName}=${m.MetricStat.Metric.Dimensions[0]!.Value}/${m.MetricStat.Period}` : m.Expression)).toEqual([
      'ApproximateNumberOfMessagesVisible=fluxer-local-jobs/60', `GroupDesiredCapacity=${GROUP}/60`, 'IF(FILL(desired, 0) == 0, visible, 0)',
    ]);
    const tags = await awsJson<{ Tags: Array<{ Key: string; Value: string }> }>(['cloudwatch', 'list-tags-for-resource', '--resource-arn', a.AlarmArn]);
    expect(tags.Tags).toEqual(expect.arrayContaining([{ Key: 'fluxer:managed', Value: 'true' }, { Key: 'fluxer:stack', Value: 'local' }]));

    const again = await fluxer(['fleet', 'up', '--yes', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { resources: Array<{ action: string }> }).resources.map((x) => x.action)).toEqual(Array(6).fill('unchanged'));

    // --idle pins the nodes' idle time in a new default template version (the AWS CLI reads it back); later runs keep it.
    const idleDry = JSON.parse((await fluxer(['fleet', 'up', '--idle', '45s', '--dry-run', '--json'])).stdout) as { idle: unknown; resources: Array<{ type: string; action: string; changes: Array<{ setting: string; to: string }> }> };
    expect(idleDry.idle).toEqual({ seconds: 45, surplusSeconds: 45 }); // the runtime's 2 min surplus time, capped by the idle time
    expect(idleDry.resources.filter((x) => x.action !== 'unchanged')).toEqual([expect.objectContaining({ type: 'launch-template', action: 'would-update', changes: [expect.objectContaining({ setting: 'user data', to: expect.stringContaining('FLUXER_IDLE_SECONDS=45') })] })]);
    expect((await fluxer(['fleet', 'up', '--idle', '45s', '--yes'])).code).toBe(0);
    const version = await awsJson<{ LaunchTemplateVersions: Array<{ VersionNumber: number; LaunchTemplateData: { UserData: string } }> }>(['ec2', 'describe-launch-template-versions', '--launch-template-name', GROUP, '--versions', '$Default']);
    expect(Buffer.from(version.LaunchTemplateVersions[0]!.LaunchTemplateData.UserData, 'base64').toString('utf8')).toMatch(/^\s*FLUXER_IDLE_SECONDS=45\s*$/m);
    const kept = JSON.parse((await fluxer(['fleet', 'up', '--yes', '--json'])).stdout) as { idle: unknown; resources: Array<{ action: string }> };
    expect(kept).toMatchObject({ idle: { seconds: 45, surplusSeconds: 45 } });
    expect(kept.resources.map((x) => x.action)).toEqual(Array(6).fill('unchanged'));
    // A surplus time over the pinned idle time: exit 2, naming the flag, nothing changed.
    const over = await fluxer(['fleet', 'up', '--surplus-idle', '1m', '--yes']);
    expect(over.code).toBe(2);
    expect(over.stderr).toContain('--surplus-idle 1m is above the idle time 45s (what the template pins)');
    expect((await fluxer(['fleet', 'up', '--idle', '10m', '--yes'])).code).toBe(0);
    const status = JSON.parse((await fluxer(['fleet', 'status', '--json'])).stdout) as { idle: unknown };
    expect(status.idle).toEqual({ seconds: 600, surplusSeconds: 120, pinned: true });

    // Someone edits the alarm: fleet up says so, and puts it back.
    const edited = await aws(['cloudwatch', 'put-metric-alarm', '--alarm-name', ALARM, '--comparison-operator', 'GreaterThanThreshold', '--threshold', '5', '--evaluation-periods', '3', '--metric-name', 'ApproximateNumberOfMessagesVisible', '--namespace', 'AWS/SQS', '--statistic', 'Maximum', '--period', '60', '--alarm-actions', p.PolicyARN]);
    expect(edited.code, edited.stderr).toBe(0);
    const dry = await fluxer(['fleet', 'up', '--dry-run', '--json']);
    expect((JSON.parse(dry.stdout) as { resources: Array<{ type: string; action: string }> }).resources.filter((x) => x.action !== 'unchanged')).toEqual([expect.objectContaining({ type: 'alarm', action: 'would-update' })]);
    expect((await fluxer(['fleet', 'up', '--yes'])).code).toBe(0);
    expect((await awsJson<{ MetricAlarms: Array<{ Threshold: number }> }>(['cloudwatch', 'describe-alarms', '--alarm-names', ALARM])).MetricAlarms[0]!.Threshold).toBe(0);
  }, 180_000);

  it('a fleet at 0: generate --wait raises it to 1, the node agent runs the node as a worker, the job succeeds', async () => {
    // The no-fleet answer this machine remembered from the first test was forgotten by fleet up.
    const r = await fluxer(['generate', 'a lighthouse at dawn', '--model', 'tiny', '--wait', '--timeout', '200s', '--json', '--out', 'img']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Fleet ${GROUP} was at 0: desired capacity raised to 1`);
    const doc = JSON.parse(r.stdout) as { id: string; state: string; fleet: unknown; files: string[]; node: { instanceId: string } | null };
    expect(doc).toMatchObject({ state: 'succeeded', fleet: { group: GROUP, outcome: 'raised', raisedTo: 1 } });
    expect(doc.files).toHaveLength(1);
    const g = (await group())!;
    expect(g.DesiredCapacity).toBe(1);
    // The group's own node ran it, and the document names it as the job's status does.
    const status = await aws(['s3', 'cp', `s3://fluxer-local/fluxer/jobs/${doc.id}/status.json`, '-']);
    expect(status.code, status.stderr).toBe(0);
    const node = (JSON.parse(status.stdout) as { node: { instanceId: string } }).node;
    expect(g.Instances.map((i) => i.InstanceId)).toEqual([node.instanceId]);
    expect(doc.node).toEqual(node);
    expect(r.stderr).toMatch(new RegExp(`^succeeded {2}1 image .*node ${node.instanceId}$`, 'm'));

    // Once it wants a node, generate leaves it alone: no second write.
    const more = await fluxer(['generate', 'another', '--model', 'tiny', '--json'], keyEnv('ZEROUP'));
    expect(more.code, more.stderr).toBe(0);
    expect(JSON.parse(more.stdout)).toMatchObject({ fleet: { group: GROUP, outcome: 'running', desired: 1 } });
    expect((await standinRequests(endpoint, 'ZEROUP')).filter((x) => ASG_ACTIONS.test(x))).toEqual(['DescribeAutoScalingGroups']);
  }, 300_000);

  it('a caller refused SetDesiredCapacity: a note on stderr naming the permission, exit 0, the group left at 0', async () => {
    expect((await fluxer(['fleet', 'scale', '0'])).code).toBe(0);
    await expect.poll(async () => (await group())!.Instances.length, { timeout: 60_000, interval: 500 }).toBe(0);
    proxy = await startFaultProxy({
      upstream: endpoint,
      intercept: (req) => {
        if (!/Action=SetDesiredCapacity/.test(req.body.toString('utf8'))) return undefined;
        const body = '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/submitter is not authorized to perform: autoscaling:SetDesiredCapacity on resource: fluxer-local-fleet</Message></Error><RequestId>0</RequestId></ErrorResponse>';
        return { status: 403, headers: { 'Content-Type': 'text/xml' }, body };
      },
    });
    const r = await fluxer(['generate', 'refused', '--model', 'tiny', '--json', '--endpoint-url', proxy.endpoint]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'queued', fleet: { group: GROUP, outcome: 'denied', action: 'autoscaling:SetDesiredCapacity', message: expect.stringMatching(/^AccessDenied: /) } });
    expect(r.stderr).toMatch(/Note: fleet fluxer-local-fleet was not raised from 0: your identity may not call autoscaling:SetDesiredCapacity/);
    expect(proxy.requests.filter((q) => /Action=SetDesiredCapacity/.test(q.body.toString('utf8')))).toHaveLength(1);
    expect((await group())!.DesiredCapacity).toBe(0);
  }, 120_000);

  it('fleet down deletes the backstop with the rest', async () => {
    const dry = await fluxer(['fleet', 'down', '--dry-run', '--json']);
    expect((JSON.parse(dry.stdout) as { items: Array<{ type: string; name: string }> }).items.map((i) => `${i.type} ${i.name}`).slice(0, 3)).toEqual([
      'scaling-policy fluxer-backlog-per-instance', 'scaling-policy fluxer-scale-from-zero', `alarm ${ALARM}`,
    ]);
    const r = await fluxer(['fleet', 'down', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((await awsJson<{ MetricAlarms: unknown[] }>(['cloudwatch', 'describe-alarms', '--alarm-name-prefix', GROUP])).MetricAlarms).toEqual([]);
    expect(await group()).toBeUndefined();
  }, 180_000);
});
