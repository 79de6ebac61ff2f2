// `fluxer ami bake`: an AMI from a running node (--from), from scratch (--base), or a stopped bake
// followed again (--resume). The sequence lives in src/core/ami/; see docs/ami.md, "Baking".
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import type { Context } from '../../cli/context.js';
import { bakeBase, resolveBaseAmi, type BuilderLaunch } from '../../core/ami/bake-base.js';
import { resumeBake } from '../../core/ami/bake-resume.js';
import { bakeFromNode, type BakeDeps, type BakeResult } from '../../core/ami/bake.js';
import { BAKE_NAME, bakesDir, readBake } from '../../core/ami/journal.js';
import { ensureRuntimeRelease } from '../../core/launch/first-release.js';
import { resolveNodeNetwork } from '../../core/launch/spec.js';
import { launchZones } from '../../core/launch/zones.js';
import { INSTANCE_ID } from '../../core/nodes/instances.js';
import { openRemoteSession } from '../../core/remote/session.js';
import { requireBucket } from '../../core/stack-resources.js';
import { renderUserData } from '../../core/userdata/render.js';
import { stackVariables } from '../../core/userdata/variables.js';
import { isDryRunOperation, toFluxerError } from '../../aws/errors.js';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode, UsageError } from '../../lib/errors.js';
import { TEMPLATES_DIR } from '../../lib/paths.js';

interface BakeOpts {
  from?: string;
  base?: boolean;
  name?: string;
  terminateSource?: boolean;
  reboot: boolean;
  includeWeights?: boolean;
  wait?: boolean;
  timeout: number;
  resume?: string;
  dryRun?: boolean;
}

const nameFlag = (flag: string) => (v: string) => {
  if (!BAKE_NAME.test(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: must be 3-128 letters, digits, . _ or -, starting with a letter or digit`);
  return v;
};
const nodeFlag = (v: string) => {
  if (!INSTANCE_ID.test(v)) throw new UsageError(`--from ${JSON.stringify(v)}: not an instance id (i- and 8 or 17 hex digits); \`fluxer spot list\` shows the nodes`);
  return v;
};

/** Exactly one of --from, --base, --resume, and the flags that go with it: exit 2 before any call. */
function checkFlags(o: BakeOpts): void {
  const modes = [o.from !== undefined && '--from', o.base && '--base', o.resume !== undefined && '--resume'].filter(Boolean);
  const example = 'e.g. `fluxer ami bake --from i-0123456789abcdef0 --wait`, `fluxer ami bake --base`';
  if (modes.length !== 1) throw new UsageError(modes.length ? `Give one of --from, --base or --resume (got ${modes.join(' and ')})` : 'Say what to bake: --from NODE, --base, or --resume NAME', { hint: example });
  if (o.resume !== undefined && (o.name !== undefined || o.includeWeights || !o.reboot)) throw new UsageError('--resume continues a bake as it was started: --name, --include-weights and --no-reboot do not apply');
  if (o.base && o.terminateSource) throw new UsageError('--terminate-source does not apply to --base: its builder is always terminated');
  if (o.from !== undefined && o.terminateSource && !o.wait) throw new UsageError('--terminate-source needs --wait: the source is terminated once the image is available');
}

function newBakeName(stack: string, now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `fluxer-${stack}-${t}-${Math.random().toString(16).slice(2, 6)}`.slice(0, 128);
}

export default defineCommand<BakeOpts>({
  name: 'bake',
  description:
    'Bakes an AMI of the stack. --from NODE: waits until the node is READY, refuses model weights on its root volume\n' +
    '(unless --include-weights), drains it until no job runs, prepares it over SSM (cloud-init clean, machine-id, the\n' +
    "runtime's state, logs and caches), journals the image name, then CreateImage with the image and its snapshots\n" +
    'tagged. The node reboots for a consistent image (--no-reboot: crash-consistent) and comes back READY, or is\n' +
    'terminated (--terminate-source). --base: the same from a builder launched from the Deep Learning AMI with the\n' +
    "promoted release, always terminated. With --wait (implied by --base and --resume) a failed or timed-out image\n" +
    'is deregistered and its snapshots deleted (exit 1); Ctrl-C exits 130 with the image still being made.\n' +
    'Costly: asks, or --yes. See docs/ami.md.',
  options: [
    { flags: '--from <node>', description: 'the stack node (instance id) to image', parse: nodeFlag },
    { flags: '--base', description: 'bake from scratch: a builder from the Deep Learning AMI with the promoted release' },
    { flags: '--name <name>', description: 'the image name (default: fluxer-<stack>-<time>-<random>, unique per bake)', parse: nameFlag('--name') },
    { flags: '--terminate-source', description: 'terminate the node once its image is available (with --wait)' },
    { flags: '--no-reboot', description: 'image without rebooting: crash-consistent (the runtime is restarted instead)' },
    { flags: '--include-weights', description: 'bake model weights found on the root volume into the image (slow first reads)' },
    { flags: '--wait', description: 'wait until the image is available; clean it up if it fails or --timeout passes' },
    { flags: '--timeout <duration>', description: 'how long to wait for the image', parse: durationFlag('--timeout', { minMs: 1000, maxMs: 24 * 3_600_000 }), default: 90 * 60_000, defaultLabel: '90m' },
    { flags: '--resume <name>', description: 'follow a stopped bake again (its journal, or the image of that name)', parse: nameFlag('--resume') },
    { flags: '--dry-run', description: 'check the source and ask EC2 (DryRun) whether CreateImage would be allowed; change nothing' },
  ],
  examples: ['fluxer ami bake --from i-0123456789abcdef0 --wait --yes', 'fluxer ami bake --base --yes --json', 'fluxer ami bake --resume fluxer-prod-20261203-101500-1a2b'],
  async handler(ctx, _args, opts) {
    checkFlags(opts);
    const config = ctx.config();
    const { settings, stack } = config;
    const region = settings.spotRegion ?? settings.region;
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun && !opts.resume) requireConfirmable(confirmCtx, 'Baking an AMI');
    const name = opts.resume ?? opts.name ?? newBakeName(stack, ctx.clock.now());
    if (!opts.resume && readBake(bakesDir(ctx.env), name)) throw new UsageError(`A bake named ${name} exists already`, { code: 'BakeExists', hint: `Follow it with \`fluxer ami bake --resume ${name}\`, or choose another --name.` });
    const aws = ctx.aws();
    const ec2 = await aws.ec2(region);
    const session = opts.from ? await openRemoteSession(aws, config, { kind: 'nodes', ids: [opts.from] }, ctx.signal) : undefined;
    if (session && session.targets[0]?.state !== 'running') throw new UsageError(`${opts.from} is ${session.targets[0]?.state ?? 'not found'}, not running`, { code: 'NodeNotRunning' });
    const ssm = await aws.ssm(region);
    const s3 = settings.bucket ? await aws.s3() : undefined;
    const deps: BakeDeps = {
      ec2,
      remote: { ssm, ...(s3 ? { s3 } : {}) },
      remoteSettings: settings.bucket ? { output: { bucket: settings.bucket, keyPrefix: `${settings.prefix}ssm-output/` } } : {},
      clock: ctx.clock,
      journalDir: bakesDir(ctx.env),
      signal: ctx.signal,
      progress: (m) => ctx.out.info(m),
      warn: (m) => ctx.out.warn(m),
    };
    const common = { stack, region, name, noReboot: !opts.reboot, includeWeights: opts.includeWeights ?? false, timeoutMs: opts.timeout, model: settings.model };

    let result: BakeResult;
    if (opts.resume) {
      result = await resumeBake(deps, { name, stack, region, timeoutMs: opts.timeout, terminateSource: opts.terminateSource ?? false });
    } else if (opts.from) {
      if (opts.dryRun) return dryRun(ctx, ec2, { instanceId: opts.from, name, noReboot: !opts.reboot });
      if (!(await confirmAction(confirmCtx, `Bake ${name} from ${opts.from} (drained, cleaned${opts.reboot ? ', rebooted' : ''}${opts.terminateSource ? ', then terminated' : ''})?`, 'Baking an AMI'))) return nothingDone(ctx);
      result = await bakeFromNode(deps, { ...common, node: opts.from, terminateSource: opts.terminateSource ?? false, wait: opts.wait ?? false });
    } else {
      const ami = await resolveBaseAmi({ ec2, ssm }, stack, region);
      const launch = await builderLaunch(ctx, ami, region, opts.timeout);
      ctx.out.info(`Builder: ${launch.instanceType} on-demand from ${ami.imageId} in ${region}; image ${name}`);
      if (opts.dryRun) {
        ctx.out.result({ name, dryRun: true, baseAmi: ami.imageId, instanceType: launch.instanceType, subnetId: launch.subnetId }, () => `Would launch a builder ${launch.instanceType} from ${ami.imageId} and bake ${name}`);
        return ExitCode.Ok;
      }
      if (!(await confirmAction(confirmCtx, `Launch an on-demand ${launch.instanceType} builder and bake ${name}?`, 'Baking an AMI'))) return nothingDone(ctx);
      const release = await ensureRuntimeRelease({ ssm: await aws.ssm(), s3: await aws.s3() }, { settings, stack, env: ctx.env, progress: (m) => ctx.out.info(m) });
      ctx.out.info(`The builder installs release ${release.id}${release.published ? ' (just published from the local build)' : ''}`);
      result = await bakeBase({ ...deps, ec2, s3: await aws.s3(), where: { bucket: requireBucket(settings, stack), prefix: settings.prefix } }, { ...common, wait: true, launch });
    }
    const doc = { imageId: result.imageId, name: result.name, state: result.state, snapshots: result.snapshots, sourceNode: result.sourceNode, cleaned: result.cleaned, source: result.source, weights: result.weights, prepared: result.prepared };
    return ctx.out.resultOrFailure(doc, () => human(result, opts.timeout), result.failure);
  },
});

function human(r: BakeResult, timeout: number): string {
  if (r.state === 'available') return `${r.imageId}\t${r.name}\tavailable\tsnapshots ${r.snapshots.join(',') || '-'}\tsource ${r.sourceNode} ${r.source.state}`;
  if (r.state === 'pending') return `${r.imageId}\t${r.name}\tpending\t(follow it: fluxer ami bake --resume ${r.name} --timeout ${formatDuration(timeout)})`;
  return `${r.imageId ?? '-'}\t${r.name}\t${r.state}${r.cleaned ? `\tcleaned ${[...r.cleaned.images, ...r.cleaned.snapshots].join(',') || 'nothing'}` : ''}`;
}

function nothingDone(ctx: Context): number {
  ctx.out.info('Nothing baked.');
  return ExitCode.Failed;
}

/** EC2's own DryRun of CreateImage: permissions and the instance, nothing made. */
async function dryRun(ctx: Context, ec2: BakeDeps['ec2'], input: { instanceId: string; name: string; noReboot: boolean }): Promise<number> {
  let ok = false;
  let message = 'the server did not report a dry run';
  try {
    await ec2.createImage({ InstanceId: input.instanceId, Name: input.name, NoReboot: input.noReboot, DryRun: true });
  } catch (err) {
    if (!isDryRunOperation(err)) throw toFluxerError(err);
    ok = true;
    message = 'Request would have succeeded';
  }
  ctx.out.result({ name: input.name, sourceNode: input.instanceId, dryRun: true, ok, message }, () => `${ok ? 'Would bake' : 'Would fail'} ${input.name} from ${input.instanceId}: ${message}`);
  return ok ? ExitCode.Ok : ExitCode.Failed;
}

/** The builder's launch: the stack's first instance type, its first zone, its user data with a node lifetime. */
async function builderLaunch(ctx: Context, ami: BuilderLaunch['ami'], region: string, timeoutMs: number): Promise<BuilderLaunch> {
  const config = ctx.config();
  const { settings, stack } = config;
  const aws = ctx.aws();
  const ec2 = await aws.ec2(region);
  // A builder left by a killed CLI powers itself off: the wait's budget, the node waits and an hour's room.
  const lifetime = Math.ceil((timeoutMs + 3 * 20 * 60_000 + 3_600_000) / 60_000);
  const userData = await renderUserData({
    templateRef: settings.template,
    templateRefLabel: 'template setting',
    templatesDir: TEMPLATES_DIR,
    cwd: ctx.cwd,
    stackValues: stackVariables(config),
    vars: { node_lifetime_minutes: String(lifetime) },
    forceGzip: false,
    stackHints: { region: settings.region, queueName: settings.queueName },
    resolveQueueUrl: async () => {
      const { QueueUrl } = await (await aws.sqs()).getQueueUrl({ QueueName: settings.queueName });
      if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
      return { value: QueueUrl, source: `SQS GetQueueUrl ${settings.queueName}` };
    },
  });
  const network = await resolveNodeNetwork(ec2, settings, stack, region);
  const zone = (await launchZones(ec2, settings.subnets, network.vpcId, region))[0]!;
  return { ami, instanceType: settings.instanceTypes[0]!, subnetId: zone.subnetId, securityGroupIds: network.securityGroupIds, instanceProfile: settings.instanceProfile, volumeSize: settings.volumeSize, userData: userData.payload };
}
