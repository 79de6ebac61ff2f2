// `fluxer setup`: the stack's queue, dead-letter queue and results bucket, created or corrected,
// idempotently (src/core/setup.ts does the work).
import { defineCommand } from '../cli/command.js';
import { formatPlanRows as formatSetup } from '../cli/plan.js';
import { ensureNodeIdentity } from '../core/node-identity.js';
import { ensureStackResources, type SetupAction, type SetupResource } from '../core/setup.js';
import { requireBucket } from '../core/stack-resources.js';

interface SetupOpts {
  dryRun?: boolean;
}

export default defineCommand<SetupOpts>({
  name: 'setup',
  description:
    'Creates, or corrects where they drifted, the resources a stack needs: the SQS job queue and its dead-letter\n' +
    'queue (redrive after 10 receives, 20 s long polling, 4-day retention; DLQ 14 days) and the S3 results bucket\n' +
    '(public access blocked, default encryption, jobs/ expiring after jobRetentionDays, nodes/ after nodeRetentionDays);\n' +
    'and what nodes run as: the IAM role and instance profile <instanceProfile> and the security group\n' +
    'fluxer-<stack>-node (no inbound rule; docs/permissions.md). Everything is tagged fluxer:managed=true and\n' +
    'fluxer:stack=<stack>. A second run changes nothing. See docs/setup.md.',
  options: [{ flags: '--dry-run', description: 'say what would be created or changed, and change nothing' }],
  examples: ['fluxer setup', 'fluxer setup --dry-run', 'fluxer setup --stack prod --json'],
  async handler(ctx, _args, opts) {
    const { settings, stack } = ctx.config();
    // Checked before any client is made: a missing bucket is a usage error, and nothing is sent.
    requireBucket(settings, stack);
    const dryRun = opts.dryRun ?? false;
    const aws = ctx.aws();
    const [sqs, s3, iam, ec2, sts] = await Promise.all([aws.sqs(), aws.s3(), aws.iam(), aws.ec2(settings.spotRegion ?? settings.region), aws.sts()]);
    const spinner = await ctx.out.spinner(`${dryRun ? 'Checking' : 'Setting up'} stack ${stack} in ${settings.region}`);
    let resources: SetupResource[];
    try {
      const onResource = (r: SetupResource) => spinner.update(`${r.type} ${r.name}: ${r.action}`);
      resources = await ensureStackResources({ sqs, s3 }, settings, stack, { dryRun, onResource });
      // What nodes run as (src/core/node-identity.ts): role, instance profile, security group.
      resources.push(...(await ensureNodeIdentity({ iam, ec2, sts }, settings, stack, { dryRun, onResource })));
    } finally {
      spinner.stop();
    }
    ctx.out.result({ stack, region: settings.region, dryRun, resources }, () => formatSetup(ctx.out, resources));
    const counts = countActions(resources);
    if (dryRun) {
      const pending = counts['would-create'] + counts['would-update'];
      ctx.out.info(pending ? `Dry run: ${pending} resource(s) would change; nothing was sent. Run \`fluxer setup\` to apply.` : 'Dry run: everything is already set up.');
    } else {
      ctx.out.success(`Stack ${stack} (${settings.region}): ${counts.created} created, ${counts.updated} updated, ${counts.unchanged} ok.`);
    }
  },
});

function countActions(resources: SetupResource[]): Record<SetupAction, number> {
  const counts: Record<SetupAction, number> = { created: 0, updated: 0, unchanged: 0, 'would-create': 0, 'would-update': 0 };
  for (const r of resources) counts[r.action]++;
  return counts;
}
