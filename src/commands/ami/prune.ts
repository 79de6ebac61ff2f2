// `fluxer ami prune`: deregisters the stack's old AMIs with their snapshots, keeps the newest N, the
// default and any in use (saying why), deletes the snapshots interrupted bakes left, and finishes
// the cleanups the bake journal lists.
import { defineCommand } from '../../cli/command.js';
import { integerFlag, durationFlag } from '../../cli/parse.js';
import { confirmAction, requireConfirmable } from '../../cli/prompter.js';
import { bakesDir, readBakes, writeBake } from '../../core/ami/journal.js';
import { gatherPrune, planPrune, runPrune, type PrunePlan } from '../../core/ami/prune.js';
import { defaultAmiParameter, readDefaultAmi } from '../../core/launch/spec.js';
import { ExitCode, FluxerError } from '../../lib/errors.js';

interface PruneOpts {
  keep: number;
  olderThan?: number;
  dryRun?: boolean;
}

export default defineCommand<PruneOpts>({
  name: 'prune',
  description:
    "Deregisters the stack's old AMIs (tagged fluxer:managed=true, fluxer:stack=<stack>, fluxer:role=ami, in the nodes'\n" +
    'region) and deletes their snapshots: every image beyond the newest --keep available ones, and with --older-than\n' +
    'only those older than that. Never the default (SSM /fluxer/<stack>/ami), an image an instance runs from\n' +
    "(pending, running, stopping, stopped) or one the stack's launch templates name ($Latest/$Default), nor one still\n" +
    'being made: each kept one is listed with its reason. DeregisterImage deletes the snapshots with the image; prune\n' +
    'then checks they are gone and deletes any left. Also deletes orphan snapshots of interrupted bakes (tagged for the\n' +
    'stack, or made by CreateImage for an image of the bake journal, whose image is gone) and finishes the cleanups the\n' +
    'journal lists, marking those bakes cleaned. Asks on a terminal (--yes otherwise); --dry-run only reads.\n' +
    'See docs/ami.md.',
  options: [
    { flags: '--keep <n>', description: 'available images to keep, newest first (0–100)', parse: integerFlag('--keep', 0, 100), default: 3 },
    { flags: '--older-than <duration>', description: 'only remove images older than this (e.g. 14d, 36h); default: no age limit', parse: durationFlag('--older-than', { minMs: 60_000, maxMs: 3650 * 86_400_000 }) },
    { flags: '--dry-run', description: 'show what would be removed and kept; send nothing that changes anything' },
  ],
  examples: ['fluxer ami prune --dry-run', 'fluxer ami prune --keep 2 --older-than 14d --yes --json', 'fluxer ami prune --keep 0 --yes'],
  async handler(ctx, _args, opts) {
    const confirmCtx = { yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter };
    if (!opts.dryRun) requireConfirmable(confirmCtx, 'Pruning AMIs');
    const { settings, stack } = ctx.config();
    const region = settings.spotRegion ?? settings.region;
    const journalDir = bakesDir(ctx.env);
    const journal = readBakes(journalDir);
    for (const f of journal.unreadable) ctx.out.warn(`${f}: not a bake journal entry; left alone`);
    const bakes = journal.entries.filter((b) => b.stack === stack && b.region === region);
    const aws = ctx.aws();
    const [ec2, ssm] = await Promise.all([aws.ec2(region), aws.ssm(region)]);
    const defaultAmi = await readDefaultAmi(ssm, stack);
    const inputs = await gatherPrune(ec2, { stack, defaultAmi, bakes });
    const plan = planPrune(inputs, { stack, region, keep: opts.keep, nowMs: ctx.clock.now(), defaultParameter: defaultAmiParameter(stack), ...(opts.olderThan !== undefined ? { olderThanMs: opts.olderThan } : {}) });
    const planned = {
      deregistered: plan.remove.map((r) => r.imageId),
      snapshotsDeleted: plan.remove.flatMap((r) => r.snapshots),
      kept: plan.kept,
      orphansDeleted: [...plan.cleanupSnapshots, ...plan.orphans],
      journalCleaned: plan.entries.map((e) => e.name),
    };
    const nothing = !plan.remove.length && !plan.orphans.length && !plan.cleanupSnapshots.length;
    ctx.out.info(describePlan(plan, region, opts.dryRun ?? false));

    if (opts.dryRun || nothing) {
      if (!opts.dryRun) for (const e of plan.entries) writeBake(journalDir, { ...e, state: 'cleaned' }, ctx.clock.now());
      ctx.out.result({ dryRun: opts.dryRun ?? false, region, ...planned }, () => '');
      ctx.out.info(opts.dryRun ? 'Dry run: nothing was changed.' : `Nothing to remove for stack "${stack}" in ${region}.`);
      return ExitCode.Ok;
    }
    const count = `${plan.remove.length} AMI(s) and ${plan.orphans.length + plan.cleanupSnapshots.length} orphan snapshot(s)`;
    if (!(await confirmAction(confirmCtx, `Remove ${count} of stack "${stack}" in ${region}?`, 'Pruning AMIs'))) {
      ctx.out.info('Nothing removed.');
      return ExitCode.Failed;
    }
    const outcome = await runPrune(ec2, plan, (line) => ctx.out.info(line));
    // A bake's entry is marked cleaned only when everything of this run went through (a rerun finishes the rest).
    const cleaned = outcome.failed.length ? [] : plan.entries;
    for (const e of cleaned) writeBake(journalDir, { ...e, state: 'cleaned' }, ctx.clock.now());
    const result = { dryRun: false, region, deregistered: outcome.deregistered, snapshotsDeleted: outcome.snapshotsDeleted, kept: plan.kept, orphansDeleted: outcome.orphansDeleted, journalCleaned: cleaned.map((e) => e.name), failed: outcome.failed };
    const failure = outcome.failed.length
      ? new FluxerError(`${outcome.failed.length} removal(s) failed: ${outcome.failed.map((f) => `${f.id} (${f.code}: ${f.message})`).join('; ')}`, { code: 'PruneIncomplete', hint: 'Run `fluxer ami prune` again to retry; `fluxer ami list` shows what is left.' })
      : undefined;
    return ctx.out.resultOrFailure(result, () => `Deregistered ${outcome.deregistered.length} AMI(s), deleted ${outcome.snapshotsDeleted.length} of their snapshot(s) and ${outcome.orphansDeleted.length} orphan snapshot(s).`, failure);
  },
});

function describePlan(plan: PrunePlan, region: string, dryRun: boolean): string {
  const lines: string[] = [];
  const verb = dryRun ? 'Would deregister' : 'To deregister';
  if (plan.remove.length) lines.push(`${verb} (${region}):`, ...plan.remove.map((r) => `  ${r.imageId}  ${r.name ?? ''}  ${r.why}; snapshots ${r.snapshots.join(', ') || 'none'}`));
  const orphans = [...plan.cleanupSnapshots, ...plan.orphans];
  if (orphans.length) lines.push(`${dryRun ? 'Would delete' : 'To delete'} orphan snapshots:`, ...orphans.map((o) => `  ${o.snapshotId}  ${o.reason}`));
  if (plan.kept.length) lines.push('Kept:', ...plan.kept.map((k) => `  ${k.imageId}  ${k.reason}`));
  if (plan.entries.length) lines.push(`Bakes ${dryRun ? 'that would be' : 'to be'} marked cleaned in the journal: ${plan.entries.map((e) => e.name).join(', ')}`);
  return lines.join('\n') || `No AMIs of this stack in ${region}.`;
}
