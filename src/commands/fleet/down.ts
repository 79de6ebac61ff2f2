// `fluxer fleet down`: the fleet and what fluxer made for it deleted (--drain: nodes finish their jobs first).
import { defineCommand } from '../../cli/command.js';
import { fleetContext } from '../../cli/fleet.js';
import { durationFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { drainFleet, planFleetDown, tearDown } from '../../core/fleet/down.js';
import { nodeRoleName } from '../../core/node-policy.js';
import { SSM_OUTPUT_PREFIX } from '../../core/remote/session.js';
import { ExitCode } from '../../lib/errors.js';

interface DownOpts {
  drain?: boolean;
  dryRun?: boolean;
  timeout: number;
}

export default defineCommand<DownOpts>({
  name: 'down',
  description:
    'Deletes the stack\'s fleet: with --drain, every node first stops taking jobs and finishes the one it runs; then\n' +
    'the group goes to zero and its nodes terminate (without --drain a running job is handed back to the queue as\n' +
    'the node shuts down), and the group, its launch template, the backlog policy, the node role\'s fleet policy and\n' +
    'the alarms fluxer tagged for it are deleted — nothing fluxer did not create. Asks on a terminal (--yes\n' +
    'otherwise). See docs/fleet.md.',
  options: [
    { flags: '--drain', description: 'let every node finish its running job before the group goes to zero' },
    { flags: '--dry-run', description: 'say what would be deleted, and change nothing' },
    { flags: '--timeout <duration>', description: 'how long to wait for the jobs (--drain) and the terminations', parse: durationFlag('--timeout', { minMs: 10_000, maxMs: 24 * 3_600_000 }), default: 30 * 60_000, defaultLabel: '30m' },
  ],
  examples: ['fluxer fleet down --drain --yes', 'fluxer fleet down --dry-run', 'fluxer fleet down --yes --json'],
  async handler(ctx, _args, opts) {
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Deleting the fleet');
    const f = await fleetContext(ctx);
    const [iam, cloudwatch] = await Promise.all([f.aws.iam(), f.aws.cloudwatch(f.region)]);
    const ports = { ec2: f.ec2, autoscaling: f.autoscaling, iam, cloudwatch };
    const names = { groupName: f.groupName, templateName: f.templateName, roleName: nodeRoleName(f.settings) };
    const plan = await planFleetDown(ports, { stack: f.stack, ...names });
    const doc = (deleted: unknown[]) => ({ group: f.groupName, region: f.region, dryRun: opts.dryRun ?? false, drain: opts.drain ?? false, nodes: plan.nodes, items: plan.items, deleted });
    if (!plan.items.length) {
      ctx.out.result(doc([]), () => '');
      ctx.out.info(`Stack "${f.stack}" has no fleet in ${f.region}: nothing to delete.`);
      return ExitCode.Ok;
    }
    ctx.out.info(`${opts.dryRun ? 'Would delete' : 'To delete'} (${f.region}), after ${plan.nodes.length} node(s) ${opts.drain ? 'drain and ' : ''}terminate:\n${plan.items.map((i) => `  ${i.type}  ${i.name}`).join('\n')}`);
    if (opts.dryRun) {
      ctx.out.result(doc([]), () => '');
      ctx.out.info('Dry run: nothing was changed.');
      return ExitCode.Ok;
    }
    if (!(await confirmAction(confirmCtx, `Delete fleet ${f.groupName} and its ${plan.nodes.length} node(s)?`, 'Deleting the fleet'))) {
      ctx.out.info('Nothing deleted.');
      return ExitCode.Failed;
    }
    const deadlineMs = ctx.clock.now() + opts.timeout;
    const progress = (m: string) => ctx.out.info(m);
    if (opts.drain && plan.nodes.length) {
      const ssm = await f.aws.ssm(f.region);
      const s3 = f.settings.bucket ? await f.aws.s3() : undefined;
      await drainFleet({ ssm, ...(s3 ? { s3 } : {}) }, ctx.clock, plan.nodes, {
        settings: { ...(f.settings.bucket ? { output: { bucket: f.settings.bucket, keyPrefix: `${f.settings.prefix}${SSM_OUTPUT_PREFIX}` } } : {}), signal: ctx.signal },
        deadlineMs, progress,
      });
    }
    const deleted = await tearDown(ports, ctx.clock, plan, { ...names, deadlineMs, progress });
    ctx.out.result(doc(deleted), () => '');
    ctx.out.success(`Fleet ${f.groupName} deleted: ${deleted.map((d) => d.type).join(', ')}.`);
    return ExitCode.Ok;
  },
});
