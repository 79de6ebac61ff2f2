// `fluxer spot list`: the stack's GPU nodes, what they cost so far (an estimate) and what their
// runtimes report in their node records.
import { defineCommand } from '../../cli/command.js';
import { listNodes, STALE_AFTER_MS, type NodeRow } from '../../core/nodes/list.js';
import { formatDuration } from '../../lib/duration.js';

interface ListOpts {
  all?: boolean;
}

export default defineCommand<ListOpts>({
  name: 'list',
  description:
    "Lists the stack's GPU nodes (instances tagged fluxer:managed=true, fluxer:stack=<stack>, fluxer:role=gpu-node in\n" +
    'the stack\'s spotRegion, else its region): id, type, AZ, EC2 state, launch time, uptime, the spot price in force now,\n' +
    'the cost so far, AMI and launch id, and from each node record (<prefix>nodes/<id>.json) the runtime state, when it\n' +
    `last wrote (stale: S3 saw no write for ${STALE_AFTER_MS / 60_000} minutes), jobs and images done and the busy share.\n` +
    'The cost is an estimate: the price now × uptime, per-second billing with a 60 s minimum (the price may have\n' +
    'changed since launch). See docs/spot.md.',
  options: [{ flags: '--all', description: 'include shutting-down and terminated nodes (EC2 keeps them about an hour)' }],
  examples: ['fluxer spot list', 'fluxer spot list --all --json | jq ".nodes[] | {instanceId, costSoFar}"'],
  async handler(ctx, _args, opts) {
    const { settings, stack } = ctx.config();
    const region = settings.spotRegion ?? settings.region;
    const aws = ctx.aws();
    const [ec2, s3] = await Promise.all([aws.ec2(region), settings.bucket ? aws.s3() : Promise.resolve(undefined)]);
    if (!settings.bucket) ctx.out.warn(`the stack "${stack}" has no bucket: node records (runtime state) are not shown`);
    const location = settings.bucket ? { bucket: settings.bucket, prefix: settings.prefix } : undefined;
    const nodes = await listNodes({ ec2, s3 }, ctx.clock, { stack, all: opts.all ?? false, location });
    ctx.out.result({ nodes }, () => (nodes.length === 0 ? '' : ctx.out.table(HEADERS, nodes.map(toCells))));
    if (nodes.length === 0) {
      ctx.out.info(`No nodes of stack "${stack}" in ${region}${opts.all ? '' : ' (pending, running, stopping or stopped; --all adds terminated ones)'}. Start one with \`fluxer spot launch\`.`);
      return;
    }
    const priced = nodes.filter((n) => n.costSoFar !== null);
    const total = priced.reduce((sum, n) => sum + (n.costSoFar ?? 0), 0);
    const unpriced = nodes.length - priced.length;
    ctx.out.info(
      `Estimated cost so far: $${total.toFixed(2)} for ${priced.length} node${priced.length === 1 ? '' : 's'}` +
        `${unpriced ? ` (${unpriced} without a spot price)` : ''}: the spot price now × uptime, per-second billing, 60 s minimum. ` +
        'For the price history in force, the first free hour and volumes: `fluxer cost report`.',
    );
    const stale = nodes.filter((n) => n.runtime?.stale);
    if (stale.length) ctx.out.warn(`${stale.length} node record(s) stale (no write for over ${STALE_AFTER_MS / 60_000} minutes): ${stale.map((n) => n.instanceId).join(', ')}`);
  },
});

const HEADERS = ['ID', 'TYPE', 'AZ', 'STATE', 'LAUNCHED', 'UPTIME', '$/H', 'COST', 'AMI', 'LAUNCH', 'RUNTIME', 'LAST SEEN', 'JOBS', 'IMAGES', 'BUSY'];

function toCells(n: NodeRow): Array<string | number | null> {
  const r = n.runtime;
  return [
    n.instanceId,
    n.instanceType,
    n.az,
    n.state,
    n.launchedAt ? n.launchedAt.replace(/\.\d{3}Z$/, 'Z') : null,
    n.uptimeSeconds === null ? null : formatDuration(n.uptimeSeconds * 1000),
    n.spotPrice === null ? null : n.spotPrice.toFixed(4),
    n.costSoFar === null ? null : `~$${n.costSoFar.toFixed(2)}`,
    n.ami,
    n.launchId,
    r ? (r.state ?? '?') : 'no record',
    r?.lastSeenAt ? `${r.lastSeenAt.replace(/\.\d{3}Z$/, 'Z')}${r.stale ? ' (stale)' : ''}` : null,
    r?.jobsDone ?? null,
    r?.imagesDone ?? null,
    r?.busyShare === null || r?.busyShare === undefined ? null : `${Math.round(r.busyShare * 100)}%`,
  ];
}
