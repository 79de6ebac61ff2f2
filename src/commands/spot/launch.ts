// `fluxer spot launch`: GPU nodes in the cheapest pool that has capacity, failing over within the
// command, the spot quota checked first, never launched twice (src/core/launch/ does the work).
import { defineCommand } from '../../cli/command.js';
import { durationFlag, integerFlag, numberFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { CapacityCache, poolKey } from '../../core/launch/capacity-cache.js';
import { checkLaunchId, LaunchJournal, newLaunchId, type LaunchPlan } from '../../core/launch/journal.js';
import { checkLaunchTypes, checkSpotQuota, noPoolError, planLaunchPools } from '../../core/launch/prepare.js';
import { formatPlan, formatResult, launchFailure, writeLaunchRecord } from '../../core/launch/report.js';
import { dryRunPool, listLaunchInstances, runLaunch } from '../../core/launch/run.js';
import { amiMissingError, buildLaunchSpec, resolveAmi, resolveNodeNetwork } from '../../core/launch/spec.js';
import { waitForNodes } from '../../core/launch/wait.js';
import { launchZones } from '../../core/launch/zones.js';
import { ensureRuntimeRelease } from '../../core/launch/first-release.js';
import { renderUserData } from '../../core/userdata/render.js';
import { stackVariables } from '../../core/userdata/variables.js';
import { ExitCode, FluxerError, PendingError, UsageError } from '../../lib/errors.js';
import { formatDuration } from '../../lib/duration.js';
import { TEMPLATES_DIR } from '../../lib/paths.js';
import { fluxerStateDir } from '../../lib/state-dir.js';

interface LaunchOpts {
  count: number;
  type?: string[];
  maxPrice?: number;
  ami?: string;
  launchId?: string;
  allowPartial?: boolean;
  retryFailedPools?: boolean;
  dryRun?: boolean;
  wait?: boolean;
  timeout: number;
}

const typeFlag = (v: string, previous: unknown) => {
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(v)) throw new UsageError(`--type "${v}": not an instance type (e.g. g5.xlarge)`);
  return [...((previous as string[] | undefined) ?? []), v];
};

export default defineCommand<LaunchOpts>({
  name: 'launch',
  description:
    'Launches --count spot GPU nodes of the stack: pools (type × AZ of the stack\'s subnets) ranked by spot price,\n' +
    'near-ties by placement score, then by the order of "instanceTypes"; the spot vCPU quota is checked first\n' +
    '(exit 5 before any launch); a pool without capacity is skipped for the next (remembered 3 minutes). Every\n' +
    'RunInstances carries a ClientToken; `--launch-id ID` resumes a launch and never leaves more than --count.\n' +
    'Costly: the plan is shown and a terminal asks; otherwise --yes. See docs/spot.md.',
  options: [
    { flags: '--count <n>', description: 'nodes to launch (1-100)', parse: integerFlag('--count', 1, 100), default: 1 },
    { flags: '--type <type>', description: 'instance type (repeatable; default: the stack\'s "instanceTypes")', parse: typeFlag, repeatable: true },
    { flags: '--max-price <usd>', description: 'highest spot price, USD per hour (default: the stack\'s "maxPrice")', parse: numberFlag('--max-price', 0.0001, 1000) },
    { flags: '--ami <id>', description: 'AMI id, or "latest" (default: the stack\'s "ami")' },
    { flags: '--launch-id <id>', description: 'resume this launch from its saved plan', parse: checkLaunchId },
    { flags: '--allow-partial', description: 'exit 0 when fewer than --count nodes could be launched' },
    { flags: '--retry-failed-pools', description: 'try pools that failed for capacity in the last 3 minutes' },
    { flags: '--dry-run', description: 'show the plan and ask EC2 (DryRun) whether the first pool would launch; launch nothing' },
    { flags: '--wait', description: 'follow each node\'s record from BOOTSTRAPPING to READY (progress on stderr)' },
    { flags: '--timeout <duration>', description: 'how long --wait waits (exit 8 after; the nodes keep running)', parse: durationFlag('--timeout', { minMs: 1000, maxMs: 24 * 3_600_000 }), default: 20 * 60_000, defaultLabel: '20m' },
  ],
  examples: ['fluxer spot launch --yes', 'fluxer spot launch --count 3 --type g6e.xlarge --type g5.xlarge --max-price 1.2 --yes --json', 'fluxer spot launch --dry-run', 'fluxer spot launch --launch-id l-20261203074500-1a2b3c4d --yes'],
  async handler(ctx, _args, opts) {
    const config = ctx.config();
    const { settings, stack } = config;
    const region = settings.spotRegion ?? settings.region;
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Launching spot GPU nodes');
    const ami = opts.ami ?? settings.ami;
    if (ami !== 'latest' && !/^ami-[0-9a-f]{8,17}$/.test(ami)) throw new UsageError(`--ami "${ami}": must be "latest" or an AMI id (ami-…)`);
    const journal = new LaunchJournal(fluxerStateDir(ctx.env, 'launches'));
    const resumed: LaunchPlan | undefined = opts.launchId ? journal.load(opts.launchId) : undefined;
    const launchId = resumed?.launchId ?? newLaunchId(ctx.clock.now());
    ctx.out.info(`Launch ${launchId}${resumed ? ' (resumed from its saved plan)' : ''}`);
    const types = opts.type ?? settings.instanceTypes;
    const maxPrice = opts.maxPrice ?? settings.maxPrice;

    const aws = ctx.aws();
    const ec2 = await aws.ec2(region);
    const info = await checkLaunchTypes(ec2, types, settings.model, opts.type ? '--type' : '"instanceTypes"');
    // Rendered and checked (size, secrets) before anything is launched: a refusal is exit 2.
    const userData = await renderUserData({
      templateRef: settings.template,
      templateRefLabel: 'template setting',
      templatesDir: TEMPLATES_DIR,
      cwd: ctx.cwd,
      stackValues: stackVariables(config),
      vars: {},
      forceGzip: false,
      stackHints: { region: settings.region, queueName: settings.queueName },
      resolveQueueUrl: async () => {
        const { QueueUrl } = await (await aws.sqs()).getQueueUrl({ QueueName: settings.queueName });
        if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
        return { value: QueueUrl, source: `SQS GetQueueUrl ${settings.queueName}` };
      },
    });
    const ssm = await aws.ssm(region);
    const image = resumed
      ? { imageId: resumed.imageId, rootDeviceName: resumed.rootDeviceName, source: 'the saved plan' }
      : await resolveAmi({ ec2, ssm }, stack, ami);
    if (!image) throw amiMissingError(stack, ami, region);
    const network = await resolveNodeNetwork(ec2, settings, stack, region);
    const spec = buildLaunchSpec({ stack, launchId, ami: image, volumeSize: settings.volumeSize, instanceProfile: settings.instanceProfile, securityGroupIds: network.securityGroupIds, userData: userData.payload });

    const account = (await (await aws.sts()).getCallerIdentity()).account;
    const cacheKey = (p: { instanceType: string; azId: string }) => poolKey({ endpoint: aws.endpointFor('EC2') ?? 'aws', account, region, azId: p.azId, instanceType: p.instanceType });
    const cache = new CapacityCache(fluxerStateDir(ctx.env, 'cache'), ctx.clock);
    let plan: LaunchPlan;
    let notes: string[] = [];
    if (resumed) {
      plan = resumed;
    } else {
      const zones = await launchZones(ec2, settings.subnets, network.vpcId, region);
      const pools = await planLaunchPools(ec2, ctx.clock, {
        types, info, model: settings.model, zones, region, count: opts.count,
        ...(maxPrice !== undefined ? { maxPrice } : {}),
        ...(opts.retryFailedPools ? {} : { recentFailure: (p: { instanceType: string; azId: string }) => cache.recent(cacheKey(p))?.code }),
      });
      for (const d of pools.dropped) ctx.out.warn(`skipped ${d.instanceType}${d.az ? ` in ${d.az}` : ''}: ${d.reason}`);
      if (!pools.pools.length) throw noPoolError(pools.dropped, region);
      notes = pools.notes;
      plan = { version: 1, launchId, stack, region, count: opts.count, imageId: image.imageId, rootDeviceName: image.rootDeviceName, createdAt: new Date(ctx.clock.now()).toISOString(), pools: pools.pools, attempts: [] };
    }
    for (const n of notes) ctx.out.info(n);
    // A resumed launch asks the quota only for what it still lacks (its running nodes are in use already).
    const missing = resumed ? plan.count - (await listLaunchInstances(ec2, stack, launchId)).length : plan.count;
    const quotas = missing > 0 ? await checkSpotQuota({ ec2, quotas: await aws.quotas(region) }, plan.pools, info, missing, region) : [];
    for (const q of quotas) if (q.note) ctx.out.warn(`${q.code}: ${q.note}`);
    ctx.out.info(formatPlan(plan, image.source, quotas));

    if (opts.dryRun) {
      const check = await dryRunPool(ec2, spec, plan.pools[0]!, plan.count, `${launchId}-dry-run`, maxPrice);
      ctx.out.result({ launchId, dryRun: true, plan: { count: plan.count, imageId: plan.imageId, pools: plan.pools }, check }, () => `${check.ok ? 'Would launch' : 'Would fail'}: ${check.code}: ${check.message}`);
      return check.ok ? 0 : 1;
    }
    if (!(await confirmAction(confirmCtx, `Launch ${plan.count} spot node(s) for stack ${stack} in ${region}?`, 'Launching spot GPU nodes'))) {
      ctx.out.info('Nothing launched.');
      return ExitCode.Failed;
    }
    const release = await ensureRuntimeRelease({ ssm: await aws.ssm(), s3: await aws.s3() }, { settings, stack, env: ctx.env, progress: (m) => ctx.out.info(m) });
    if (release.published) ctx.out.info(`Published the local build as the stack's first runtime release ${release.id} (nodes install it).`);
    journal.save(plan);
    const result = await runLaunch(ec2, plan, {
      spec, clock: ctx.clock, journal, progress: (m) => ctx.out.info(m),
      ...(maxPrice !== undefined ? { maxPrice } : {}),
      onPoolFailure: (pool, code, message) => cache.remember(cacheKey(pool), { code, message }),
    });
    await writeLaunchRecord(await aws.s3(), settings, plan, result, ctx.clock).catch((err: Error) => ctx.out.warn(`launch record not written: ${err.message}`));
    const doc: Record<string, unknown> & Parameters<typeof formatResult>[1] = { launchId, instances: result.instances, attempts: result.attempts.map((a) => ({ instanceType: a.instanceType, az: a.az, outcome: a.outcome, code: a.code ?? null, message: a.message ?? null })) };
    let failure = launchFailure(plan, result, { allowPartial: opts.allowPartial ?? false, region });
    if (opts.wait && !failure && result.instances.length && settings.bucket) {
      ctx.out.info(`Waiting up to ${formatDuration(opts.timeout)} for ${result.instances.length} node(s) to be READY`);
      const waited = await waitForNodes(await aws.s3(), { bucket: settings.bucket, prefix: settings.prefix }, result.instances.map((i) => i.instanceId), {
        clock: ctx.clock, timeoutMs: opts.timeout, signal: ctx.signal,
        onChange: (n) => ctx.out.info(`${n.instanceId}: ${n.state}${n.reason ? ` (${n.reason})` : ''}`),
      });
      doc.nodes = waited.nodes;
      const follow = `follow them with \`fluxer spot launch --launch-id ${launchId} --wait --yes\` (launches nothing more), or \`fluxer spot terminate --launch-id ${launchId}\``;
      if (waited.failed.length) failure = new FluxerError(`${waited.failed.map((n) => `${n.instanceId} ${n.state}${n.reason ? `: ${n.reason}` : ''}`).join('; ')}`, { code: 'NodeFailed', hint: `A failed node powers itself off; ${follow}.` });
      else if (waited.timedOut) failure = new PendingError(`Not every node was READY after ${formatDuration(opts.timeout)}: ${waited.nodes.map((n) => `${n.instanceId} ${n.state}`).join(', ')}`, { hint: `The nodes keep running; ${follow}.` });
    }
    return ctx.out.resultOrFailure(doc, () => formatResult(ctx.out, doc), failure);
  },
});
