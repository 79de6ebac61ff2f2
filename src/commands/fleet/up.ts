// `fluxer fleet up`: the stack's autoscaled spot fleet, created or corrected where it drifted,
// idempotently (src/core/fleet/up.ts plans it; nothing changes before the plan is confirmed).
import { defineCommand } from '../../cli/command.js';
import { BOUNDS_OPTIONS, checkBoundsFlags, fleetContext, zeroCacheFor } from '../../cli/fleet.js';
import { durationFlag, integerFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { checkFleetCapacity } from '../../core/fleet/capacity.js';
import { DEFAULT_MAX_SIZE, IDLE_RANGE_MS, RUNTIME_IDLE_SECONDS, RUNTIME_SURPLUS_IDLE_SECONDS } from '../../core/fleet/names.js';
import { effectiveIdle } from '../../core/fleet/pins.js';
import { readGroup, readTemplate } from '../../core/fleet/read.js';
import { fleetLaunch, pinnedSettings, type FleetPins } from '../../core/fleet/template.js';
import { planFleetUp } from '../../core/fleet/up.js';
import { forgetNoFleet } from '../../core/fleet/zero.js';
import { ensureRuntimeRelease } from '../../core/launch/first-release.js';
import { nodeRoleName, partitionOf } from '../../core/node-policy.js';
import { ExitCode, UsageError } from '../../lib/errors.js';
import { formatDuration } from '../../lib/duration.js';
import { formatPlanRows } from '../../cli/plan.js';

interface UpOpts {
  min?: number;
  max?: number;
  jobsPerNode?: number;
  idle?: number;
  surplusIdle?: number;
  dryRun?: boolean;
}

export default defineCommand<UpOpts>({
  name: 'up',
  description:
    'Creates, or corrects where it drifted, the stack\'s fleet: a launch template from the launch specification\n' +
    '(IMDSv2 only, no key pair, no market options, user data carrying the group\'s name), an Auto Scaling group\n' +
    'fluxer-<stack>-fleet over the stack\'s types × subnets (100% spot, price-capacity-optimized, SpotMaxPrice from\n' +
    '"maxPrice", Capacity Rebalancing, group metrics, min 0 unless --min), a target-tracking policy on backlog per\n' +
    'instance ((visible + in flight) / in service, target --jobs-per-node, scale-in disabled), the scale-from-zero\n' +
    'backstop (a step policy adding one node, and a CloudWatch alarm on jobs waiting while the group is at 0), and\n' +
    'the node role\'s policy on that group only. --idle and --surplus-idle are the nodes\' idle times, pinned in the user\n' +
    'data (new nodes get them; `fleet roll` gives them to the running ones). Shows the plan and asks on a terminal\n' +
    '(--yes otherwise). A second run changes nothing. Needs `fluxer setup` first. See docs/fleet.md.',
  options: [
    ...BOUNDS_OPTIONS,
    { flags: '--jobs-per-node <n>', description: 'backlog per node the group scales out to keep (default 2, or what the policy has)', parse: integerFlag('--jobs-per-node', 1, 1000) },
    { flags: '--idle <duration>', description: `how long a node waits idle, the queue empty, before it leaves (default: what the template pins, else the runtime's ${formatDuration(RUNTIME_IDLE_SECONDS * 1000)}); shorter costs less and starts cold more often: docs/fleet.md "Choosing the idle time"`, parse: durationFlag('--idle', IDLE_RANGE_MS) },
    { flags: '--surplus-idle <duration>', description: `the same for a node beyond the one the fleet keeps (default: the template's, else ${formatDuration(RUNTIME_SURPLUS_IDLE_SECONDS * 1000)}); at most --idle`, parse: durationFlag('--surplus-idle', IDLE_RANGE_MS) },
    { flags: '--dry-run', description: 'show the plan and change nothing' },
  ],
  examples: ['fluxer fleet up --max 8 --yes', 'fluxer fleet up --dry-run', 'fluxer fleet up --jobs-per-node 4 --json --yes', 'fluxer fleet up --idle 5m --yes'],
  async handler(ctx, _args, opts) {
    checkBoundsFlags(opts);
    const asked = idleFlagsInSeconds(opts);
    // Both given: checked before any AWS call; one alone is checked against what the template pins once it is read.
    if (asked.idleSeconds !== undefined) checkIdlePins(asked, asked);
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Changing the fleet');
    const f = await fleetContext(ctx);
    const [iam, sts, ssm, cloudwatch] = await Promise.all([f.aws.iam(), f.aws.sts(), f.aws.ssm(f.region), f.aws.cloudwatch(f.region)]);
    const [template, existing, quotas] = await Promise.all([readTemplate(f.ec2, f.templateName, f.stack), readGroup(f.autoscaling, f.groupName, f.stack), f.aws.quotas(f.region)]);
    // The types that hold the model, and the spot quota against the group's max (exit 2 / 5 before any change).
    const max = opts.max ?? existing?.MaxSize ?? Math.max(DEFAULT_MAX_SIZE, opts.min ?? 0);
    const capacity = await checkFleetCapacity({ ec2: f.ec2, quotas }, { types: f.settings.instanceTypes, model: f.settings.model, max, region: f.region, queueRegion: f.settings.region });
    for (const note of capacity.notes) ctx.out.warn(note);
    // A template that exists keeps its AMI and pinned release (changing what nodes run is `fleet roll`'s), and its idle times unless given.
    const pins = { ...pinnedSettings(template?.data), ...asked };
    checkIdlePins(pins, asked);
    const launch = await fleetLaunch({ ec2: f.ec2, ssm, sqs: () => f.aws.sqs() }, f.config, {
      cwd: ctx.cwd, groupName: f.groupName, region: f.region, ami: template?.data.ImageId ?? f.settings.ami, pins,
    });
    const caller = await sts.getCallerIdentity();
    const plan = await planFleetUp({ ec2: f.ec2, autoscaling: f.autoscaling, iam, cloudwatch }, {
      stack: f.stack, region: f.region, account: caller.account, partition: partitionOf(caller.arn), groupName: f.groupName, templateName: f.templateName,
      template, desiredTemplate: launch.data, instanceTypes: capacity.types, subnetIds: launch.zones.map((z) => z.subnetId),
      maxPrice: f.settings.maxPrice, queueName: f.settings.queueName, roleName: nodeRoleName(f.settings),
      ...(opts.min !== undefined ? { min: opts.min } : {}), ...(opts.max !== undefined ? { max: opts.max } : {}), ...(opts.jobsPerNode !== undefined ? { jobsPerNode: opts.jobsPerNode } : {}),
    }, { group: existing });
    // The idle times the template's nodes get (a pin, else the runtime's default; a surplus time at most the idle time).
    const idle = effectiveIdle(pins);
    const doc = (resources = plan.resources) => ({ stack: f.stack, region: f.region, group: f.groupName, dryRun: opts.dryRun ?? false, capacity, idle, resources });
    if (!plan.pending) {
      ctx.out.result(doc(), () => formatPlanRows(ctx.out, plan.resources));
      ctx.out.success(`Fleet ${f.groupName} (${f.region}) is up to date: nothing to change.`);
      return ExitCode.Ok;
    }
    if (opts.dryRun) {
      ctx.out.result(doc(), () => formatPlanRows(ctx.out, plan.resources));
      ctx.out.info('Dry run: nothing was sent. Run `fluxer fleet up` to apply.');
      return ExitCode.Ok;
    }
    if (!ctx.out.json) ctx.out.info(formatPlanRows(ctx.out, plan.resources));
    if (!(await confirmAction(confirmCtx, `Apply these changes to fleet ${f.groupName} in ${f.region}?`, 'Changing the fleet'))) {
      ctx.out.info('Nothing changed.');
      return ExitCode.Failed;
    }
    const release = await ensureRuntimeRelease({ ssm: await f.aws.ssm(), s3: await f.aws.s3() }, { settings: f.settings, stack: f.stack, env: ctx.env, progress: (m) => ctx.out.info(m) });
    if (release.published) ctx.out.info(`Published the local build as the stack's first runtime release ${release.id} (nodes install it).`);
    const applied = await plan.apply();
    // This machine's `generate` forgets "no fleet here" now, not after its cache's few minutes.
    await forgetNoFleet(zeroCacheFor(ctx, f.region), f.groupName);
    ctx.out.result(doc(applied), () => '');
    const changed = applied.filter((r) => r.action !== 'unchanged').map((r) => `${r.type} ${r.action}`);
    ctx.out.success(`Fleet ${f.groupName} (${f.region}): ${changed.join(', ')}. \`fluxer fleet status\` shows it; \`fluxer fleet scale N\` sets its size.`);
    return ExitCode.Ok;
  },
});

/** The idle flags in whole seconds (the runtime reads seconds); before any AWS call. */
function idleFlagsInSeconds(opts: UpOpts): FleetPins {
  const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 1000));
  const pins: FleetPins = {};
  const idle = seconds(opts.idle);
  const surplus = seconds(opts.surplusIdle);
  if (idle !== undefined) pins.idleSeconds = idle;
  if (surplus !== undefined) pins.surplusIdleSeconds = surplus;
  return pins;
}

/**
 * A --surplus-idle over the idle time in force (given, pinned or the runtime's) is refused: it would say the
 * extra nodes wait longer than the one the fleet keeps. A pinned or default surplus time over a shorter --idle
 * is not: the runtime takes the shorter of the two (fleet_policy.idle_decision), as --json shows.
 */
function checkIdlePins(pins: FleetPins, asked: FleetPins): void {
  if (asked.surplusIdleSeconds === undefined) return;
  const idle = pins.idleSeconds ?? RUNTIME_IDLE_SECONDS;
  const surplus = asked.surplusIdleSeconds;
  if (surplus > idle) {
    throw new UsageError(`--surplus-idle ${formatDuration(surplus * 1000)} is above the idle time ${formatDuration(idle * 1000)}${pins.idleSeconds === undefined ? ' (the runtime\'s default)' : asked.idleSeconds === undefined ? ' (what the template pins)' : ''}`, {
      code: 'FleetIdle', hint: `Give --surplus-idle at most the idle time (a surplus node leaves sooner than the one the fleet keeps), e.g. --idle ${formatDuration(idle * 1000)} --surplus-idle ${formatDuration(idle * 1000)}.`,
    });
  }
}
