// `fluxer models push DIR --model NAME`: a model folder into <prefix>models/<NAME>/, resumable, with the
// manifest written last (src/core/models/push.ts has the order and why; docs/models.md the layout).
import { resolve } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { integerFlag } from '../../cli/parse.js';
import { confirmAction } from '../../cli/prompter.js';
import { listModelFolder } from '../../core/models/folder.js';
import { formatSize, hashProgressLine, pushProgressLine } from '../../core/models/format.js';
import { filesPrefix } from '../../core/models/manifest.js';
import { executePush, hashFiles, planPush, type PushOutcome, type PushPlan } from '../../core/models/push.js';
import { requireBucket } from '../../core/stack-resources.js';
import { ExitCode, InterruptedError, UsageError } from '../../lib/errors.js';
import { MODEL_NAMES } from '../../lib/job-schema.js';

interface PushOpts {
  model?: string;
  concurrency: number;
  dryRun?: boolean;
}

/** Redraw the progress line at most this often. */
const DRAW_MS = 100;

export default defineCommand<PushOpts>({
  name: 'push',
  description:
    'Uploads a model folder to s3://<bucket>/<prefix>models/<NAME>/files/<path> (each object with its sha256 as ' +
    'user metadata), then writes <prefix>models/<NAME>/manifest.json last: nodes pull the files it lists at boot. ' +
    'A file already there with the same size and sha256 is skipped, so a second push uploads nothing and an ' +
    'interrupted one resumes. Files of 64 MiB and more go multipart (16 MiB parts, in parallel). Hidden entries ' +
    '(.git, .cache, dotfiles) are left out. Replacing a model whose manifest lists other files asks first (--yes ' +
    'when not on a terminal). See docs/models.md.',
  args: [{ name: 'DIR', description: 'the model folder (diffusers layout: model_index.json and its components)', required: true }],
  options: [
    { flags: '--model <name>', description: `which model this is: ${MODEL_NAMES.join(', ')}`, choices: MODEL_NAMES },
    { flags: '--concurrency <n>', description: 'requests in flight at once (files and parts together)', parse: integerFlag('--concurrency', 1, 64), default: 10 },
    { flags: '--dry-run', description: 'hash and compare with S3; say what would be uploaded; send no write' },
  ],
  examples: ['fluxer models push ./FLUX.1-schnell --model flux-schnell', 'fluxer models push ./sdxl --model sdxl --dry-run --json', 'fluxer models push ./sdxl --model sdxl --yes --concurrency 16'],
  async handler(ctx, args, opts) {
    if (!opts.model) throw new UsageError(`--model is required: one of ${MODEL_NAMES.join(', ')}`, { hint: 'e.g. `fluxer models push ./FLUX.1-schnell --model flux-schnell`' });
    const model = opts.model;
    const { settings, stack } = ctx.config();
    const bucket = requireBucket(settings, stack);
    const dir = resolve(ctx.cwd, args[0]!);
    const files = listModelFolder(dir, filesPrefix(settings.prefix, model));
    const started = ctx.clock.now();
    const display = ctx.out.liveLine();
    let lastDraw = 0;
    const draw = (text: () => string, force = false) => {
      const now = ctx.clock.now();
      if (display.live && (force || now - lastDraw >= DRAW_MS)) (display.draw(text()), (lastDraw = now));
    };
    const interrupted = () => new InterruptedError('Push interrupted: no manifest was written', { hint: `Run the same \`fluxer models push\` again: files already in S3 are skipped.` });

    const totalBytes = files.reduce((n, f) => n + f.size, 0);
    let hashed = 0;
    const hashedFiles = await hashFiles(files, { signal: ctx.signal, onBytes: (n) => ((hashed += n), draw(() => hashProgressLine(hashed, totalBytes))) }).catch((err) => {
      throw ctx.signal.aborted ? interrupted() : err;
    });
    const hashSeconds = (ctx.clock.now() - started) / 1000;
    display.clear();
    const s3 = await ctx.aws().s3();
    const plan = await planPush(s3, { bucket, prefix: settings.prefix, model, files: hashedFiles, now: new Date(ctx.clock.now()) });
    if (plan.extraObjects.length) ctx.out.warn(`${plan.extraObjects.length} object(s) under ${plan.keyPrefix}files/ are not in ${dir}: left there (nodes pull only the manifest's files).`);

    let outcome: PushOutcome = { uploaded: [], bytesUploaded: 0, abortedUploads: 0, manifestWritten: false };
    if (!opts.dryRun) {
      const question = replaceQuestion(plan);
      if (question && !(await confirmAction({ yes: ctx.globals.yes, interactive: ctx.out.interactive, prompter: ctx.prompter }, question, `Replacing the model in s3://${bucket}/${plan.keyPrefix}`))) {
        ctx.out.info('Nothing was uploaded.');
        return ExitCode.Failed;
      }
      const uploadStart = ctx.clock.now();
      try {
        outcome = await executePush(
          { s3, clock: ctx.clock, signal: ctx.signal, concurrency: opts.concurrency, debug: (m) => ctx.out.debug(m), onProgress: (p) => draw(() => pushProgressLine(p, ctx.clock.now() - uploadStart), p.filesDone === p.filesToUpload) },
          plan,
        );
      } catch (err) {
        throw ctx.signal.aborted ? interrupted() : err;
      } finally {
        display.clear();
      }
    }
    const toUpload = plan.files.filter((f) => f.upload);
    const result = {
      model,
      bucket,
      prefix: plan.keyPrefix,
      files: plan.files.length,
      uploaded: opts.dryRun ? toUpload.length : outcome.uploaded.length,
      skipped: plan.files.length - toUpload.length,
      bytesUploaded: opts.dryRun ? toUpload.reduce((n, f) => n + f.size, 0) : outcome.bytesUploaded,
      totalBytes,
      seconds: (ctx.clock.now() - started) / 1000,
      hashSeconds,
      manifestKey: plan.manifestKey,
      manifestWritten: opts.dryRun ? plan.writeManifest : outcome.manifestWritten,
      uploadedFiles: opts.dryRun ? toUpload.map((f) => f.path) : outcome.uploaded,
      abortedUploads: opts.dryRun ? plan.staleUploads.length : outcome.abortedUploads,
      dryRun: Boolean(opts.dryRun),
    };
    const would = opts.dryRun ? ' (dry run: nothing sent)' : '';
    ctx.out.result(result, () =>
      [
        `model     ${model}`,
        `location  s3://${bucket}/${plan.keyPrefix}`,
        `files     ${result.files}: ${result.uploaded} ${opts.dryRun ? 'to upload' : 'uploaded'}, ${result.skipped} already there`,
        `bytes     ${formatSize(result.bytesUploaded)} ${opts.dryRun ? 'to upload' : 'uploaded'} of ${formatSize(totalBytes)}`,
        ...(result.abortedUploads ? [`cleaned   ${result.abortedUploads} incomplete multipart upload(s) ${opts.dryRun ? 'to abort' : 'aborted'}`] : []),
        `manifest  ${result.manifestWritten ? (opts.dryRun ? 'to write' : 'written') : 'unchanged'}: s3://${bucket}/${plan.manifestKey}`,
        `time      ${result.seconds.toFixed(1)} s (hashing ${hashSeconds.toFixed(1)} s)`,
      ].join('\n'),
    );
    const upToDate = result.uploaded === 0 && !result.manifestWritten;
    ctx.out.success(`Model ${model} in s3://${bucket}/${plan.keyPrefix}: ${upToDate ? 'up to date' : opts.dryRun ? 'would be pushed' : 'pushed'}${would}.`);
  },
});

/** The question to ask before replacing a model whose manifest lists other files; undefined: nothing to ask. */
function replaceQuestion(plan: PushPlan): string | undefined {
  if (plan.existing.kind === 'none' || !plan.writeManifest) return undefined;
  const what =
    plan.existing.kind === 'invalid'
      ? `has a manifest that is not valid (${plan.existing.problem})`
      : `already has a manifest with other files (${plan.diff.changed.length} changed, ${plan.diff.added.length} added, ${plan.diff.removed.length} removed)`;
  const during = plan.replacesNamedFiles ? ' Nodes that start during the push find no complete model.' : '';
  return `s3://${plan.bucket}/${plan.keyPrefix} ${what}. Replace it?${during}`;
}
