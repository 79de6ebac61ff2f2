// `fluxer fleet roll`: a new launch template version (--ami, --release) and an instance refresh that
// keeps capacity, busy nodes drained first, followed with progress (src/core/fleet/roll.ts).
import { defineCommand } from '../../cli/command.js';
import { fleetContext, NO_FLEET_HINT } from '../../cli/fleet.js';
import { durationFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { readGroup, readTemplate } from '../../core/fleet/read.js';
import { followRoll, startRoll, type RollProgress } from '../../core/fleet/roll.js';
import { fleetLaunch, pinnedSettings } from '../../core/fleet/template.js';
import { SSM_OUTPUT_PREFIX } from '../../core/remote/session.js';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode, FluxerError, PendingError, UsageError } from '../../lib/errors.js';

interface RollOpts {
  ami?: string;
  release?: string;
  timeout: number;
}

const amiFlag = (v: string) => {
  if (v !== 'latest' && !/^ami-[0-9a-f]{8,17}$/.test(v)) throw new UsageError(`--ami "${v}": must be "latest" or an AMI id (ami-…)`);
  return v;
};
const releaseFlag = (v: string) => {
  if (!/^[A-Za-z0-9._+-]{1,128}$/.test(v)) throw new UsageError(`--release "${v}": not a release id (letters, digits and . _ + -)`);
  return v;
};

export default defineCommand<RollOpts>({
  name: 'roll',
  description:
    'Replaces the fleet\'s nodes with a new launch template version: --ami (an id, or "latest": the stack\'s resolution)\n' +
    'and --release (a runtime release the nodes install, pinned in the user data); without them, the stack\'s AMI and\n' +
    'the template\'s release. Starts an Auto Scaling instance refresh that keeps capacity (minimum healthy 100%,\n' +
    'maximum 200%: each replacement first, only nodes on an older version) and holds every old node (scale-in\n' +
    'protection) until a replacement serves and the old node has drained its job; progress on stderr. A refresh that\n' +
    'already runs is followed. Asks on a terminal (--yes otherwise). Exit 8 after --timeout (the refresh goes on).',
  options: [
    { flags: '--ami <id>', description: 'AMI for the new version (default: the stack\'s "ami")', parse: amiFlag },
    { flags: '--release <id>', description: 'runtime release the new nodes install (default: what the template pins, else the promoted one)', parse: releaseFlag },
    { flags: '--timeout <duration>', description: 'how long to follow the refresh', parse: durationFlag('--timeout', { minMs: 10_000, maxMs: 24 * 3_600_000 }), default: 60 * 60_000, defaultLabel: '1h' },
  ],
  examples: ['fluxer fleet roll --yes', 'fluxer fleet roll --ami ami-0123456789abcdef0 --yes', 'fluxer fleet roll --release 0.3.1-1a2b3c4d --json --yes'],
  async handler(ctx, _args, opts) {
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    requireConfirmable(confirmCtx, 'Rolling the fleet');
    const f = await fleetContext(ctx);
    const [group, template] = await Promise.all([readGroup(f.autoscaling, f.groupName, f.stack), readTemplate(f.ec2, f.templateName, f.stack)]);
    if (!group || !template) throw new FluxerError(`Stack "${f.stack}" has no fleet in ${f.region}`, { code: 'FleetMissing', hint: NO_FLEET_HINT });
    const ssm = await f.aws.ssm(f.region);
    const launch = await fleetLaunch({ ec2: f.ec2, ssm, sqs: () => f.aws.sqs() }, f.config, {
      cwd: ctx.cwd, groupName: f.groupName, region: f.region, ami: opts.ami ?? f.settings.ami, pins: { ...pinnedSettings(template.data), ...(opts.release ? { release: opts.release } : {}) },
    });
    if (!(await confirmAction(confirmCtx, `Replace the nodes of fleet ${f.groupName} (AMI ${launch.ami.imageId}${launch.release ? `, release ${launch.release}` : ''})?`, 'Rolling the fleet'))) {
      ctx.out.info('Nothing changed.');
      return ExitCode.Failed;
    }
    const s3 = f.settings.bucket ? await f.aws.s3() : undefined;
    const ports = { ec2: f.ec2, autoscaling: f.autoscaling, remote: { ssm, ...(s3 ? { s3 } : {}) } };
    const start = await startRoll(ports, { stack: f.stack, groupName: f.groupName, group, template, desired: launch.data });
    const doc = { group: f.groupName, version: start.version, newVersion: start.newVersion, ami: launch.ami.imageId, release: launch.release ?? null, refreshId: start.refreshId ?? null, replaced: start.oldIds };
    ctx.out.info(`${start.newVersion ? `Launch template version ${start.version} (now the default)` : `Launch template version ${start.version}`}; ${start.oldIds.length} node(s) to replace`);
    if (!start.refreshId) {
      ctx.out.result({ ...doc, status: 'Successful', done: true }, () => '');
      ctx.out.success(`Every node of ${f.groupName} runs version ${start.version} already: nothing to replace.`);
      return ExitCode.Ok;
    }
    ctx.out.info(`${start.resumed ? 'Following the instance refresh that runs' : 'Instance refresh'} ${start.refreshId} (minimum healthy 100%, old nodes drained first)`);
    const outcome = await followRoll(ports, ctx.clock, {
      stack: f.stack, groupName: f.groupName, refreshId: start.refreshId, oldIds: start.oldIds,
      remote: { ...(f.settings.bucket ? { output: { bucket: f.settings.bucket, keyPrefix: `${f.settings.prefix}${SSM_OUTPUT_PREFIX}` } } : {}), signal: ctx.signal },
      deadlineMs: ctx.clock.now() + opts.timeout, intervalMs: 1000, onProgress: (p) => ctx.out.info(progressLine(p)), log: (m) => ctx.out.info(m), warn: (m) => ctx.out.warn(m),
    });
    const failure = outcome.done
      ? undefined
      : ACTIVE_STATES.has(outcome.status)
        ? new PendingError(`The refresh was still ${outcome.status} after ${formatDuration(opts.timeout)} (${outcome.percentage}%)`, { hint: `It goes on in AWS; \`fluxer fleet roll --yes\` follows it again, \`fluxer fleet status\` shows the nodes.` })
        : new FluxerError(`The instance refresh ended ${outcome.status}: ${outcome.reason}`, { code: 'RefreshFailed', hint: `The old nodes that were left take jobs again (${outcome.restored.length}). \`fluxer fleet status\` shows AWS's reasons.` });
    const code = ctx.out.resultOrFailure({ ...doc, status: outcome.status, done: outcome.done, percentage: outcome.percentage, restored: outcome.restored }, () => '', failure);
    if (code === ExitCode.Ok) ctx.out.success(`Fleet ${f.groupName} rolled to version ${start.version}: ${start.oldIds.length} node(s) replaced.`);
    return code;
  },
});

const ACTIVE_STATES = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

function progressLine(p: RollProgress): string {
  return `refresh ${p.status} ${p.percentage}%${p.toUpdate !== null ? ` (${p.toUpdate} to go)` : ''}${p.reason ? `: ${p.reason}` : ''}${p.draining.length ? `; draining ${p.draining.join(', ')}` : ''}`;
}
