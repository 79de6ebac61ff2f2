// Running a launch plan: RunInstances per pool, in the plan's order, each call with a ClientToken
// derived from launch id, pool and attempt; capacity errors move on to the next pool, quota errors
// stop (no other pool of the family helps), and instances are counted by the launch-id tag before and
// after, so a resumed launch never leaves more than `count`.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import { isDryRunOperation, launchErrorCode, launchErrorMessage, launchFailureKind, toFluxerError } from '../../aws/errors.js';
import type { Clock } from '../../lib/clock.js';
import { FluxerError } from '../../lib/errors.js';
import { TAG_LAUNCH_ID, stackFilters } from '../tags.js';
import { clientToken, type Attempt, type LaunchJournal, type LaunchPlan } from './journal.js';
import type { Pool } from './pools.js';
import type { LaunchSpec } from './spec.js';

export type LaunchEc2 = Pick<Ec2Port, 'runInstances' | 'describeInstances'>;

export interface LaunchedInstance {
  instanceId: string;
  instanceType: string;
  az: string;
  spotPrice: number | null;
  state: string;
  /** EC2's LaunchTime (ISO-8601), when the listing had it: the cost report's start when the node wrote no record. */
  launchTime?: string;
}

export interface RunOptions {
  spec: LaunchSpec;
  maxPrice?: number;
  clock: Clock;
  journal: LaunchJournal;
  /** A pool had no capacity: remember it (the capacity cache). */
  onPoolFailure?: (pool: Pool, code: string, message: string) => void;
  progress?: (message: string) => void;
  /** How long a new instance may be missing from DescribeInstances (EC2 is eventually consistent). */
  visibleWithinMs?: number;
}

export interface RunResult {
  instances: LaunchedInstance[];
  attempts: Attempt[];
  /** Set when the account's spot quota stopped the launch. */
  quota?: { code: string; message: string };
}

export function runInstancesInput(spec: LaunchSpec, pool: Pick<Pool, 'instanceType' | 'subnetId'>, count: number, token: string, maxPrice?: number): Sdk.RunInstancesCommandInput {
  return {
    ...spec,
    InstanceType: pool.instanceType as Sdk.RunInstancesCommandInput['InstanceType'],
    SubnetId: pool.subnetId,
    MinCount: 1,
    MaxCount: count,
    ClientToken: token,
    InstanceMarketOptions: {
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate', ...(maxPrice !== undefined ? { MaxPrice: String(maxPrice) } : {}) },
    },
  };
}

/** EC2's DryRun on one pool: would this launch be allowed (permissions, parameters, the pool)? */
export async function dryRunPool(ec2: Pick<Ec2Port, 'runInstances'>, spec: LaunchSpec, pool: Pool, count: number, token: string, maxPrice?: number): Promise<{ ok: boolean; code: string; message: string }> {
  try {
    await ec2.runInstances({ ...runInstancesInput(spec, pool, count, token, maxPrice), DryRun: true });
    return { ok: true, code: 'DryRunOperation', message: 'the server did not report a dry run (it would have launched)' };
  } catch (err) {
    if (isDryRunOperation(err)) return { ok: true, code: 'DryRunOperation', message: 'Request would have succeeded' };
    return { ok: false, code: launchErrorCode(err), message: launchErrorMessage(err) };
  }
}

/** The launch's instances (any state but terminated), by its tag. */
export async function listLaunchInstances(ec2: Pick<Ec2Port, 'describeInstances'>, stack: string, launchId: string): Promise<Sdk.Instance[]> {
  const out: Sdk.Instance[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.describeInstances({
      Filters: [...stackFilters(stack, 'gpu-node'), { Name: `tag:${TAG_LAUNCH_ID}`, Values: [launchId] }, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] }],
      ...(token ? { NextToken: token } : {}),
    });
    for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
    token = page.NextToken || undefined;
  } while (token);
  return out;
}

/** Lists the launch, waiting (polling on the clock) while instances EC2 said it made are not listed yet. */
async function listAllowingLag(ec2: LaunchEc2, plan: LaunchPlan, expected: ReadonlySet<string>, clock: Clock, withinMs: number): Promise<Sdk.Instance[]> {
  const deadline = clock.now() + withinMs;
  for (;;) {
    const listed = await listLaunchInstances(ec2, plan.stack, plan.launchId);
    const ids = new Set(listed.map((i) => i.InstanceId));
    if ([...expected].every((id) => ids.has(id)) || clock.now() >= deadline) return listed;
    await clock.sleep(250);
  }
}

function recordedIds(plan: LaunchPlan): Set<string> {
  return new Set(plan.attempts.flatMap((a) => a.instanceIds ?? []));
}

export async function runLaunch(ec2: LaunchEc2, plan: LaunchPlan, opts: RunOptions): Promise<RunResult> {
  const withinMs = opts.visibleWithinMs ?? 5000;
  const say = opts.progress ?? (() => {});
  const known = new Set<string>(recordedIds(plan));
  for (const i of await listLaunchInstances(ec2, plan.stack, plan.launchId)) if (i.InstanceId) known.add(i.InstanceId);
  let quota: RunResult['quota'];

  const send = async (attempt: Attempt, pool: Pool): Promise<'next' | 'stop'> => {
    try {
      const res = await ec2.runInstances(runInstancesInput(opts.spec, pool, attempt.count, attempt.clientToken, opts.maxPrice));
      const ids = (res.Instances ?? []).map((i) => i.InstanceId).filter((id): id is string => !!id);
      for (const id of ids) known.add(id);
      Object.assign(attempt, { outcome: ids.length < attempt.count ? 'partial' : 'launched', instanceIds: ids, code: undefined, message: `${ids.length} of ${attempt.count}` });
      say(`${pool.instanceType} in ${pool.az}: ${ids.length} of ${attempt.count} launched (${ids.join(', ')})`);
      return 'next';
    } catch (err) {
      const code = launchErrorCode(err);
      const message = launchErrorMessage(err);
      const kind = launchFailureKind(err);
      Object.assign(attempt, { code, message });
      if (kind === 'pool-capacity') {
        attempt.outcome = 'capacity';
        opts.onPoolFailure?.(pool, code, message);
        say(`${pool.instanceType} in ${pool.az}: ${code} — trying the next pool`);
        return 'next';
      }
      if (kind === 'quota') {
        attempt.outcome = 'quota';
        quota = { code, message };
        return 'stop';
      }
      attempt.outcome = 'failed';
      opts.journal.save(plan);
      if (kind === 'idempotency-mismatch') {
        throw new FluxerError(`EC2 refused ClientToken ${attempt.clientToken}: it was used with other parameters (IdempotentParameterMismatch)`, {
          code: 'IdempotentParameterMismatch',
          hint: `The launch's settings changed since it started (AMI, user data, count?). Start a new launch without --launch-id, or \`fluxer spot terminate --launch-id ${plan.launchId}\` first.`,
          cause: err,
        });
      }
      throw toFluxerError(err);
    } finally {
      opts.journal.save(plan);
    }
  };

  // An attempt sent but never answered (the command was killed): the same call, the same token —
  // EC2 answers with the reservation it made, or makes it now.
  for (const attempt of plan.attempts.filter((a) => a.outcome === 'sent')) {
    if (known.size >= plan.count) {
      attempt.outcome = 'failed';
      attempt.message = 'not replayed: the launch already has its instances';
      continue;
    }
    const pool = plan.pools[attempt.poolIndex];
    if (pool && (await send(attempt, pool)) === 'stop') break;
  }

  for (let i = 0; i < plan.pools.length && !quota; i++) {
    const need = plan.count - known.size;
    if (need <= 0) break;
    const pool = plan.pools[i]!;
    const tried = plan.attempts.filter((a) => a.poolIndex === i);
    // A pool tried in this launch is not tried again: it had no room, or gave what it had.
    if (tried.length) continue;
    const attempt: Attempt = { poolIndex: i, instanceType: pool.instanceType, az: pool.az, clientToken: clientToken(plan.launchId, i, tried.length), count: need, outcome: 'sent' };
    plan.attempts.push(attempt);
    opts.journal.save(plan);
    say(`Launching ${need} × ${pool.instanceType} in ${pool.az}${pool.spotPrice !== undefined ? ` ($${pool.spotPrice.toFixed(4)}/h)` : ''}`);
    if ((await send(attempt, pool)) === 'stop') break;
  }

  const listed = await listAllowingLag(ec2, plan, known, opts.clock, withinMs);
  plan.finishedAt = new Date(opts.clock.now()).toISOString();
  opts.journal.save(plan);
  const priceOf = new Map(plan.pools.map((p) => [`${p.instanceType}\t${p.az}`, p.spotPrice]));
  const instances = listed
    .filter((i) => i.InstanceId)
    .map((i) => {
      const az = i.Placement?.AvailabilityZone ?? '';
      return {
        instanceId: i.InstanceId!,
        instanceType: i.InstanceType ?? '',
        az,
        spotPrice: priceOf.get(`${i.InstanceType}\t${az}`) ?? null,
        state: i.State?.Name ?? 'unknown',
        ...(i.LaunchTime ? { launchTime: new Date(i.LaunchTime).toISOString() } : {}),
      };
    })
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  return { instances, attempts: plan.attempts, ...(quota ? { quota } : {}) };
}
