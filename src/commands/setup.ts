// `fluxer setup`: the stack's queue, dead-letter queue and results bucket, created or corrected,
// idempotently (src/core/setup.ts does the work).
import { defineCommand } from '../cli/command.js';
import type { Output } from '../cli/output.js';
import { ensureNodeIdentity } from '../core/node-identity.js';
import { ensureStackResources, type SetupAction, type SetupChange, type SetupResource } from '../core/setup.js';
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

const ACTION_LABELS: Record<SetupAction, string> = {
  created: 'created',
  updated: 'updated',
  unchanged: 'ok',
  'would-create': 'would create',
  'would-update': 'would update',
};

/** The rows of a read → diff → apply plan (setup's resources, the fleet's). */
export function formatSetup(out: Output, resources: ReadonlyArray<{ type: string; name: string; action: SetupAction; changes: SetupChange[]; url?: string }>): string {
  const lines: string[] = [];
  const typeWidth = Math.max(...resources.map((r) => r.type.length));
  const nameWidth = Math.max(...resources.map((r) => r.name.length));
  for (const r of resources) {
    const label = ACTION_LABELS[r.action];
    const colored = r.action === 'unchanged' ? out.out.green(label) : r.action.startsWith('would') ? out.out.yellow(label) : out.out.cyan(label);
    lines.push(`${r.type.padEnd(typeWidth)}  ${r.name.padEnd(nameWidth)}  ${colored}${r.url ? `  ${r.url}` : ''}`);
    for (const c of r.changes) {
      lines.push(c.from === null ? `    + ${c.setting}: ${c.to}` : `    ~ ${c.setting}: ${c.from} → ${c.to}`);
    }
  }
  return lines.join('\n');
}

function countActions(resources: SetupResource[]): Record<SetupAction, number> {
  const counts: Record<SetupAction, number> = { created: 0, updated: 0, unchanged: 0, 'would-create': 0, 'would-update': 0 };
  for (const r of resources) counts[r.action]++;
  return counts;
}
