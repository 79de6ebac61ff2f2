// What `spot launch` shows and keeps: the plan before it spends money, the result after, the exit code
// a short or failed launch earns, and the launch record in the stack's bucket for the cost report.
import type { S3Port } from '../../aws/s3.js';
import type { StackSettings } from '../../config/schema.js';
import type { Clock } from '../../lib/clock.js';
import { CapacityError, type FluxerError } from '../../lib/errors.js';
import type { LaunchPlan } from './journal.js';
import type { QuotaReport } from './prepare.js';
import { quotaIncreaseCommand, spotQuotaFor } from './quota.js';
import type { RunResult } from './run.js';

const price = (p: number | undefined | null) => (p === undefined || p === null ? 'price n/a' : `$${p.toFixed(4)}/h`);

export function formatPlan(plan: LaunchPlan, amiSource: string, quotas: readonly QuotaReport[]): string {
  const lines = [`Plan: ${plan.count} node(s), AMI ${plan.imageId} (${amiSource}), pools in order:`];
  plan.pools.forEach((p, i) => lines.push(`  ${i + 1}. ${p.instanceType} in ${p.az} (${p.azId}), ${price(p.spotPrice)}${p.score !== undefined ? `, score ${p.score}` : ''}, policy ${p.policy}`));
  for (const q of quotas) if (q.value !== undefined) lines.push(`Quota ${q.code}: ${q.inUse} + ${q.requested} of ${q.value} vCPUs`);
  return lines.join('\n');
}

export interface LaunchDoc {
  launchId: string;
  instances: Array<{ instanceId: string; instanceType: string; az: string; spotPrice: number | null; state: string }>;
  attempts: Array<{ instanceType: string; az: string; outcome: string; code: string | null; message: string | null }>;
}

export function formatResult(out: { table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string }, doc: LaunchDoc): string {
  if (!doc.instances.length) return '';
  return out.table(['INSTANCE', 'TYPE', 'AZ', 'SPOT PRICE', 'STATE'], doc.instances.map((i) => [i.instanceId, i.instanceType, i.az, price(i.spotPrice), i.state]));
}

/** The failure a launch that got less than its count ends with (exit 5), or undefined. */
export function launchFailure(plan: LaunchPlan, result: RunResult, opts: { allowPartial: boolean; region: string }): FluxerError | undefined {
  const got = result.instances.length;
  const resume = `resume with \`fluxer spot launch --launch-id ${plan.launchId} --yes\``;
  const terminate = `\`fluxer spot terminate --launch-id ${plan.launchId}\``;
  const tried = result.attempts.map((a) => `${a.instanceType} in ${a.az}: ${a.outcome}${a.code ? ` (${a.code}${a.message ? `: ${a.message}` : ''})` : ''}`);
  if (result.quota) {
    const quota = spotQuotaFor(plan.pools[0]?.instanceType ?? '') ?? { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests' };
    return new CapacityError(`EC2 refused the launch for the account's spot quota: ${result.quota.code}: ${result.quota.message} (${got} of ${plan.count} launched)`, {
      code: result.quota.code,
      hint: `Raise ${quota.code} (${quota.name}): ${quotaIncreaseCommand(quota.code, Math.max(1, plan.count) * (plan.pools[0]?.vcpus ?? 4), opts.region)}; then ${resume}.`,
    });
  }
  if (got >= plan.count) return undefined;
  if (got === 0) {
    return new CapacityError(`No capacity in any pool; nothing launched. Attempts:\n  ${tried.join('\n  ')}`, {
      code: 'CapacityExhausted',
      hint: 'Try again in a few minutes (failed pools are skipped for 3 minutes unless --retry-failed-pools), or add types or AZs.',
    });
  }
  if (opts.allowPartial) return undefined;
  return new CapacityError(`Launched ${got} of ${plan.count}; the pools had no more capacity. Attempts:\n  ${tried.join('\n  ')}`, {
    code: 'PartialLaunch',
    hint: `The ${got} node(s) keep running: ${resume} for the rest, or ${terminate}. --allow-partial exits 0.`,
  });
}

/**
 * `<prefix>launches/<launch-id>.json`: plan, instances (with their launch times) and the root volume's
 * size, for the cost report (src/core/cost/read.ts): a node whose bootstrap failed writes no node
 * record, and EC2 forgets terminated instances after about an hour, so this is what stays.
 */
export async function writeLaunchRecord(s3: Pick<S3Port, 'putObject'>, settings: Pick<StackSettings, 'bucket' | 'prefix'> & Partial<Pick<StackSettings, 'volumeSize'>>, plan: LaunchPlan, result: RunResult, clock: Clock): Promise<void> {
  if (!settings.bucket) return;
  const record = {
    version: 1,
    launchId: plan.launchId,
    stack: plan.stack,
    region: plan.region,
    count: plan.count,
    imageId: plan.imageId,
    ...(settings.volumeSize !== undefined ? { rootVolumeGiB: settings.volumeSize } : {}),
    createdAt: plan.createdAt,
    finishedAt: plan.finishedAt ?? new Date(clock.now()).toISOString(),
    pools: plan.pools.map((p) => ({ instanceType: p.instanceType, az: p.az, azId: p.azId, spotPrice: p.spotPrice ?? null })),
    attempts: result.attempts,
    instances: result.instances,
  };
  await s3.putObject({ Bucket: settings.bucket, Key: `${settings.prefix}launches/${plan.launchId}.json`, Body: JSON.stringify(record, null, 2), ContentType: 'application/json' });
}
