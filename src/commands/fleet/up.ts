// `fluxer fleet up`: the stack's autoscaled spot fleet, created or corrected where it drifted,
// idempotently (src/core/fleet/up.ts plans it; nothing changes before the plan is confirmed).
import { defineCommand } from '../../cli/command.js';
import { BOUNDS_OPTIONS, checkBoundsFlags, fleetContext, zeroCacheFor } from '../../cli/fleet.js';
import { integerFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { checkFleetCapacity } from '../../core/fleet/capacity.js';
import { DEFAULT_MAX_SIZE } from '../../core/fleet/names.js';
import { readGroup, readTemplate } from '../../core/fleet/read.js';
import { fleetLaunch, pinnedRelease } from '../../core/fleet/template.js';
import { planFleetUp } from '../../core/fleet/up.js';
import { forgetNoFleet } from '../../core/fleet/zero.js';
import { ensureRuntimeRelease } from '../../core/launch/first-release.js';
import { nodeRoleName, partitionOf } from '../../core/node-policy.js';
import { ExitCode } from '../../lib/errors.js';
import { formatPlanRows } from '../../cli/plan.js';

interface UpOpts {
  min?: number;
  max?: number;
  jobsPerNode?: number;
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
    'the node role\'s policy on that group only. Shows the plan and asks on a terminal (--yes otherwise). A second run changes\n' +
    'nothing. Needs `fluxer setup` first. See docs/fleet.md.',
  options: [
    ...BOUNDS_OPTIONS,
    { flags: '--jobs-per-node <n>', description: 'backlog per node the group scales out to keep (default 2, or what the policy has)', parse: integerFlag('--jobs-per-node', 1, 1000) },
    { flags: '--dry-run', description: 'show the plan and change nothing' },
  ],
  examples: ['fluxer fleet up --max 8 --yes', 'fluxer fleet up --dry-run', 'fluxer fleet up --jobs-per-node 4 --json --yes'],
  async handler(ctx, _args, opts) {
    checkBoundsFlags(opts);
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Changing the fleet');
    const f = await fleetContext(ctx);
    const [iam, sts, ssm, cloudwatch] = await Promise.all([f.aws.iam(), f.aws.sts(), f.aws.ssm(f.region), f.aws.cloudwatch(f.region)]);
    const [template, existing, quotas] = await Promise.all([readTemplate(f.ec2, f.templateName, f.stack), readGroup(f.autoscaling, f.groupName, f.stack), f.aws.quotas(f.region)]);
    // The types that hold the model, and the spot quota against the group's max (exit 2 / 5 before any change).
    const max = opts.max ?? existing?.MaxSize ?? Math.max(DEFAULT_MAX_SIZE, opts.min ?? 0);
    const capacity = await checkFleetCapacity({ ec2: f.ec2, quotas }, { types: f.settings.instanceTypes, model: f.settings.model, max, region: f.region });
    for (const note of capacity.notes) ctx.out.warn(note);
    // A template that exists keeps its AMI and pinned release: changing what nodes run is `fleet roll`'s.
    const launch = await fleetLaunch({ ec2: f.ec2, ssm, sqs: () => f.aws.sqs() }, f.config, {
      cwd: ctx.cwd, groupName: f.groupName, region: f.region, ami: template?.data.ImageId ?? f.settings.ami, release: pinnedRelease(template?.data),
    });
    const caller = await sts.getCallerIdentity();
    const plan = await planFleetUp({ ec2: f.ec2, autoscaling: f.autoscaling, iam, cloudwatch }, {
      stack: f.stack, region: f.region, account: caller.account, partition: partitionOf(caller.arn), groupName: f.groupName, templateName: f.templateName,
      template, desiredTemplate: launch.data, instanceTypes: capacity.types, subnetIds: launch.zones.map((z) => z.subnetId),
      maxPrice: f.settings.maxPrice, queueName: f.settings.queueName, roleName: nodeRoleName(f.settings),
      ...(opts.min !== undefined ? { min: opts.min } : {}), ...(opts.max !== undefined ? { max: opts.max } : {}), ...(opts.jobsPerNode !== undefined ? { jobsPerNode: opts.jobsPerNode } : {}),
    }, { group: existing });
    const doc = (resources = plan.resources) => ({ stack: f.stack, region: f.region, group: f.groupName, dryRun: opts.dryRun ?? false, capacity, resources });
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
