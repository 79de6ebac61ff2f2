// `fluxer runtime deploy`: publish the build as a candidate release, roll it over the stack's running
// nodes N at a time (drain, install, restart, READY on the candidate), switch a failing node back and
// stop there, and promote the candidate only once every node took it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { durationFlag, integerFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { openSession, TARGET_OPTIONS } from '../../cli/remote.js';
import { deployRelease, preflight, type DeployResult } from '../../core/deploy/deploy.js';
import { deployJournalDir } from '../../core/deploy/journal.js';
import { deploySource, pyprojectFromWheel } from '../../core/deploy/source.js';
import { buildPython } from '../../core/release-inputs.js';
import { buildRelease, publishRelease, runProgram } from '../../core/releases.js';
import { parseTargets, type TargetFlags } from '../../core/remote/targets.js';
import { requireBucket } from '../../core/stack-resources.js';
import { ExitCode, FluxerError } from '../../lib/errors.js';
import { TEMPLATES_DIR } from '../../lib/paths.js';

interface DeployOpts extends TargetFlags {
  from?: string;
  maxConcurrency: number;
  timeout: number;
  dryRun?: boolean;
}

export default defineCommand<DeployOpts>({
  name: 'deploy',
  description:
    'Publishes the build (gpu-runtime/, or --from DIR|WHEEL) as a candidate release (not promoted), then on each\n' +
    'running node of the stack (or --node / --launch-id), --max-concurrency at a time in launch order: drains it,\n' +
    'waits for the running job, installs the candidate over SSM (templates/install-release.sh, as root), restarts\n' +
    'the runtime and waits until it is READY on the candidate (--timeout per node). A node that fails is switched\n' +
    'back to its previous release and restarted, the rollout stops (later nodes are untouched) and the exit is 1.\n' +
    'Only when every node succeeded is the candidate promoted (/fluxer/<stack>/runtime-release), so new nodes boot\n' +
    'it. A journal under the state folder says where each node got. Needs --yes when not interactive. See\n' +
    'docs/releases.md, "Rolling deploy and rollback".',
  options: [
    ...TARGET_OPTIONS.map((o) => (o.flags === '--all' ? { ...o, description: 'every running node of the stack (the default)' } : o)),
    { flags: '--from <dir|wheel>', description: "the runtime's source folder or a fluxer_runtime wheel (default: this fluxer's own)" },
    { flags: '--max-concurrency <n>', description: 'nodes deployed at the same time', parse: integerFlag('--max-concurrency', 1, 50), default: 1 },
    { flags: '--timeout <duration>', description: "per node: for its running job to finish, and for the new runtime to be READY", parse: durationFlag('--timeout', { minMs: 10_000, maxMs: 24 * 3_600_000 }), default: 600_000, defaultLabel: '10m' },
    { flags: '--dry-run', description: 'build, and show the release and the nodes in order; send nothing' },
  ],
  examples: ['fluxer runtime deploy', 'fluxer runtime deploy --from ./gpu-runtime --max-concurrency 2 --yes --json', 'fluxer runtime deploy --launch-id l-20260101120000-0a1b2c3d --dry-run'],
  async handler(ctx, _args, opts) {
    const selection = opts.node?.length || opts.launchId !== undefined || opts.all ? parseTargets(opts, 'deploy') : ({ kind: 'all' } as const);
    const source = deploySource(opts.from, ctx.cwd);
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Deploying a release to running nodes');
    const { settings, stack } = ctx.config();
    const bucket = requireBucket(settings, stack);
    const session = await openSession(ctx, opts, 'deploy', selection);
    if (!session) return ExitCode.Ok;
    const { ports } = session;

    // Every target must serve before anything changes (a dry run sends nothing, so it does not ask).
    const before = opts.dryRun ? [] : await preflight(ports, ctx.clock, session.ids, session.settings);
    const down = before.filter((r) => !r.ok);
    if (down.length) {
      throw new FluxerError(`Not deploying: ${down.map((r) => `${r.instanceId}: ${r.error}`).join('; ')}. Nothing was changed`, {
        code: 'NodeNotServing',
        hint: 'Deploy to the others with --node ID, or replace the node (`fluxer spot terminate ID`, then `fluxer spot launch`).',
      });
    }

    const python = buildPython(ctx.env);
    const workDir = mkdtempSync(join(tmpdir(), 'fluxer-release-'));
    const spinner = await ctx.out.spinner('Building the candidate release');
    let published;
    try {
      const runtime = 'sourceDir' in source ? source : { wheel: source.wheel, pyproject: source.pyproject ?? (await pyprojectFromWheel(python, source.wheel, workDir)) };
      const built = await buildRelease({ python, runtime, workDir, ...(ctx.env.FLUXER_RELEASE_REQUIREMENTS ? { requirementsFile: ctx.env.FLUXER_RELEASE_REQUIREMENTS } : {}), run: runProgram, env: ctx.env, progress: (m) => spinner.update(m) });
      const aws = ctx.aws();
      const [s3, ssm] = await Promise.all([aws.s3(), aws.ssm()]);
      published = await publishRelease({ s3, ssm }, built, { bucket, prefix: settings.prefix, stack, promote: false, candidate: true, dryRun: true });
      if (opts.dryRun) {
        const plan = { release: published.id, upload: published.uploaded, parameter: published.parameter, current: published.previous, maxConcurrency: opts.maxConcurrency, nodes: session.targets.map((t, i) => ({ order: i + 1, instanceId: t.instanceId, state: t.state })), dryRun: true };
        ctx.out.result(plan, () => `Would deploy ${plan.release} (${plan.upload ? 'upload' : 'already published'}), ${opts.maxConcurrency} node(s) at a time, then promote it in ${plan.parameter} (now ${plan.current ?? 'none'}):\n${ctx.out.table(['#', 'ID', 'STATE'], plan.nodes.map((n) => [n.order, n.instanceId, n.state]))}\nNothing was sent.`);
        return ExitCode.Ok;
      }
      spinner.stop();
      if (!(await confirmAction(confirmCtx, `Deploy ${published.id} to ${session.ids.length} node(s) of stack "${stack}", ${opts.maxConcurrency} at a time?`, 'Deploying a release'))) {
        ctx.out.info('Nothing was deployed.');
        return ExitCode.Failed;
      }
      published = await publishRelease({ s3, ssm }, built, { bucket, prefix: settings.prefix, stack, promote: false, candidate: true, dryRun: false, progress: (m) => ctx.out.info(m) });
    } finally {
      spinner.stop();
      rmSync(workDir, { recursive: true, force: true });
    }
    ctx.out.info(`Candidate ${published.id} ${published.uploaded ? 'published' : 'already published'}; rolling out to ${session.ids.length} node(s), ${opts.maxConcurrency} at a time`);
    const result = await deployRelease({ ...ports, paramSsm: await ctx.aws().ssm() }, ctx.clock, {
      ...session.settings,
      stack,
      region: session.region,
      release: published.id,
      parameter: published.parameter,
      parameterBefore: published.previous,
      installScript: readFileSync(join(TEMPLATES_DIR, 'install-release.sh'), 'utf8'),
      maxConcurrency: opts.maxConcurrency,
      timeoutMs: opts.timeout,
      before,
      journalDir: deployJournalDir(ctx.env),
      progress: (m) => ctx.out.info(m),
    });
    return ctx.out.resultOrFailure(result, () => formatDeploy(ctx.out.table.bind(ctx.out), result), deployFailure(result));
  },
});

function formatDeploy(table: (h: string[], rows: Array<Array<string | number | null>>) => string, r: DeployResult): string {
  const rows = r.nodes.map((n) => [n.instanceId, n.from, n.to, n.status, n.seconds === null ? null : `${n.seconds}s`, n.ok ? null : n.error]);
  return `${table(['ID', 'FROM', 'TO', 'RESULT', 'TIME', 'ERROR'], rows)}\nrelease ${r.release}: ${r.promoted ? `promoted in ${r.parameter} (was ${r.previous ?? 'none'})` : `not promoted (${r.parameter} still names ${r.previous ?? 'none'})`}`;
}

function deployFailure(r: DeployResult): FluxerError | undefined {
  if (!r.stoppedBy) return undefined;
  const back = r.nodes.find((n) => n.instanceId === r.stoppedBy!.instanceId)!;
  const state = back.status === 'rolled-back' ? `it is back on ${back.to ?? 'its previous release'} and READY` : 'switching it back failed too: look at it now';
  return new FluxerError(`Deploy of ${r.release} stopped at ${r.stoppedBy.instanceId}: ${r.stoppedBy.error}; ${state}. ${r.nodes.filter((n) => n.status === 'untouched').length} node(s) untouched; not promoted`, {
    code: 'DeployFailed',
    hint: `\`fluxer runtime logs --node ${r.stoppedBy.instanceId}\` shows why; the journal is ${r.journal}.`,
  });
}
