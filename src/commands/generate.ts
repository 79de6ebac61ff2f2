// `fluxer generate "PROMPT"`: validate against the job schema (nothing is sent when it fails), write
// the `queued` status, send the message, print the id and a queue-position estimate; with --wait,
// follow the job and download its images. `--batch FILE` does the same for many prompts. A stack
// whose fleet is at 0 gets its first node asked for once the jobs are out (src/core/fleet/zero.ts).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { defineCommand } from '../cli/command.js';
import type { Context } from '../cli/context.js';
import { FluxerError, UsageError } from '../lib/errors.js';
import { JOB_SCHEMA, MODEL_NAMES, describeModels, modelsWithNegativePrompt } from '../lib/job-schema.js';
import { durationFlag, parseSize } from '../cli/parse.js';
import { scaleFromZeroFor } from '../cli/fleet.js';
import { buildBatch, decodeBatch, parseBatch } from '../core/batch.js';
import { DEFAULT_OUT_DIR } from '../core/download.js';
import { followJobs, pickupHintMs } from '../core/follow.js';
import { uuidv7 } from '../core/ids.js';
import { buildJob, type BuildContext, type Job, type JobRequest } from '../core/job.js';
import { queuedStatus } from '../core/jobs.js';
import { jobLocation, queueUrlFor } from '../core/stack-resources.js';
import { SendFailedError, describePosition, liveNodes, queueDepth, submitBatch, submitJob, type QueuePosition, type Withdrawal } from '../core/submit.js';

interface GenerateOptions {
  negative?: string;
  model?: string;
  size?: { width: number; height: number; text: string };
  steps?: number;
  guidance?: number;
  seed?: number;
  count?: number;
  wait?: boolean;
  timeout?: number;
  out?: string;
  batch?: string;
}

/** Range checks belong to the job schema; here only "is it a number at all". */
const numeric = (flag: string) => (text: string) => {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} ${JSON.stringify(text)}: not a number`);
  return n;
};

export default defineCommand<GenerateOptions>({
  name: 'generate',
  description: [
    'Checks the job against the job schema before anything is sent (a bad value',
    "exits 2 naming the flag and the model's range), writes its `queued` status,",
    'sends it and prints its id. With --wait, follows it to the end and downloads',
    'the images.',
    '',
    'Models, with the bounds schema/job.v1.schema.json gives each [default]:',
    ...describeModels().map((line) => `  ${line}`),
  ].join('\n'),
  args: [{ name: 'prompt', description: 'what to draw (or use --batch FILE)' }],
  options: [
    { flags: '--negative <text>', description: `negative prompt (${modelsWithNegativePrompt().join(' and ')} only)` },
    { flags: '--model <model>', description: `${MODEL_NAMES.join(' | ')} (default: the stack's model)` },
    { flags: '--size <WxH>', description: `image size, multiples of ${String(JOB_SCHEMA.properties.width?.multipleOf)} (default: the model's)`, parse: (t) => ({ ...parseSize('--size', t), text: t }) },
    { flags: '--steps <n>', description: 'denoising steps (default: the model\'s)', parse: numeric('--steps') },
    { flags: '--guidance <g>', description: 'guidance scale (default: the model\'s)', parse: numeric('--guidance') },
    { flags: '--seed <n>', description: 'random seed (default: random, printed)', parse: numeric('--seed') },
    { flags: '--count <n>', description: `images per job, ${String(JOB_SCHEMA.properties.count?.minimum)}-${String(JOB_SCHEMA.properties.count?.maximum)} (default 1)`, parse: numeric('--count') },
    { flags: '--wait', description: 'follow progress, download the images, exit with the job\'s outcome' },
    { flags: '--timeout <duration>', description: 'with --wait: stop waiting after this long (exit 8; the job keeps running)', parse: durationFlag('--timeout', { minMs: 1000 }) },
    { flags: '--out <dir>', description: `with --wait: where images go (default ${DEFAULT_OUT_DIR})` },
    { flags: '--batch <file>', description: 'one prompt (or JSON object) per line; "-" reads stdin' },
  ],
  examples: [
    'fluxer generate "a red fox in snow" --wait',
    'fluxer generate "a lighthouse" --model flux-schnell --size 768x1344 --count 2 --wait --out ./img',
    'fluxer generate --batch prompts.txt --model tiny --wait',
    'fluxer generate "test" --stack local --json',
  ],
  async handler(ctx, [prompt], opts) {
    if (opts.batch !== undefined && prompt !== undefined) throw new UsageError('Give either PROMPT or --batch FILE, not both');
    if (opts.batch === undefined && prompt === undefined) throw new UsageError('PROMPT is required (or --batch FILE)', { hint: 'e.g. fluxer generate "a red fox in snow" --wait' });
    if (!opts.wait && (opts.timeout !== undefined || opts.out !== undefined)) {
      throw new UsageError(`${opts.timeout !== undefined ? '--timeout' : '--out'} only applies with --wait`, { hint: 'Add --wait, or download later with `fluxer jobs get ID --out DIR`.' });
    }
    const { settings } = ctx.config();
    const loc = jobLocation(ctx.config());
    const flags: JobRequest = {
      negativePrompt: opts.negative,
      model: opts.model,
      width: opts.size?.width,
      height: opts.size?.height,
      steps: opts.steps,
      guidance: opts.guidance,
      seed: opts.seed,
      count: opts.count,
    };
    const submittedBy = `${ctx.env.USER ?? ctx.env.LOGNAME ?? 'unknown'}@${hostname()}`;
    const context = (): BuildContext => ({ id: uuidv7(ctx.clock.now()), now: new Date(ctx.clock.now()), output: loc, submittedBy, defaultModel: settings.model });
    // Everything is validated before the first AWS call.
    const jobs =
      opts.batch === undefined
        ? [await buildJob({ ...flags, prompt }, context(), { kind: 'flags', sizeText: opts.size?.text })]
        : await buildBatch(parseBatch(await readBatchFile(ctx, opts.batch), batchLabel(opts.batch)), flags, batchLabel(opts.batch), context);

    const aws = ctx.aws();
    // The fleet is looked at from here, alongside the queue's lookup and the sends; acted on once they are out.
    const zero = scaleFromZeroFor(ctx);
    const [s3, sqs] = await Promise.all([aws.s3(), aws.sqs()]);
    const queueUrl = await queueUrlFor(sqs, settings.queueName);
    if (!queueUrl) {
      throw new FluxerError(`The job queue "${settings.queueName}" does not exist in ${settings.region}`, { code: 'QueueDoesNotExist', hint: 'Create it with `fluxer setup` (or start the local stack: `fluxer local up`).' });
    }
    const deps = { s3, sqs, queueUrl, loc };
    // The estimate starts before the message is sent, so "ahead" means ahead of this job.
    const position = estimatePosition(deps, ctx.clock.now());
    let ids: string[];
    if (jobs.length === 1) {
      await submitOne(deps, jobs[0]!);
      ids = [jobs[0]!.id];
      const j = jobs[0]!;
      ctx.out.info(`Submitted job ${j.id}: ${j.model} ${j.width}x${j.height}, ${j.steps} steps, guidance ${j.guidance}, seed ${j.seed}, ${j.count} image${j.count === 1 ? '' : 's'}`);
    } else {
      const result = await submitBatch(deps, jobs);
      ids = result.sent;
      ctx.out.info(`Submitted ${result.sent.length} of ${jobs.length} jobs`);
      if (result.failed.length > 0) {
        const fleet = await zero.settle(ids.length);
        for (const f of result.failed) ctx.out.warn(`not sent: ${f.id}: ${f.code}: ${f.message}; ${describeWithdrawal(f.status)}`);
        const failure = new FluxerError(`${result.failed.length} of ${jobs.length} jobs could not be sent (after retries)`, { code: 'BatchPartiallySent', hint: 'The ids printed were sent; re-run the batch with only the failed lines.' });
        // Under --json one document, sent and failed together with the error; the error's text goes to stderr.
        const doc = { sent: ids, failed: result.failed, fleet, error: { code: failure.code, message: failure.message, hint: failure.hint ?? null, exitCode: failure.exitCode } };
        return ctx.out.resultOrFailure(doc, () => ids.join('\n'), failure);
      }
    }
    const fleet = await zero.settle(ids.length);
    const pos = await position;
    if (pos) ctx.out.info(describePosition(pos));

    if (!opts.wait) {
      // A batch's document stays the array of ids it always was.
      if (jobs.length === 1) ctx.out.result({ id: ids[0], state: 'queued', job: jobs[0], queue: pos ?? null, fleet }, () => ids[0]!);
      else ctx.out.result(ids, () => ids.join('\n'));
      return;
    }
    const followed = await followJobs({ s3, loc, clock: ctx.clock, signal: ctx.signal, display: ctx.out.liveLine() }, ids, {
      timeoutMs: opts.timeout,
      pickupHintMs: pickupHintMs(ctx.env),
      outDir: resolve(ctx.cwd, opts.out ?? DEFAULT_OUT_DIR),
      // The queued status this command wrote is the first line, even when a warm node takes the job before the first poll.
      initial: new Map(jobs.filter((j) => ids.includes(j.id)).map((j) => [j.id, queuedStatus(j)])),
    });
    const document = Array.isArray(followed.document) ? followed.document : { ...followed.document, fleet };
    return ctx.out.resultOrFailure(document, () => followed.files.join('\n'), followed.failure);
  },
});

const describeWithdrawal = (status: Withdrawal): string =>
  ({
    removed: 'its queued status was removed',
    kept: 'its status changed since it was written (the message arrived after all and a node took it), so it was kept: follow it with `fluxer jobs tail ID`',
    absent: 'it has no status',
    error: 'its queued status could not be removed (it stays `queued`)',
  })[status];

/** One job: a failed send is an error naming what became of the job's status. */
async function submitOne(deps: Parameters<typeof submitJob>[0], job: Job): Promise<void> {
  try {
    await submitJob(deps, job);
  } catch (err) {
    if (!(err instanceof SendFailedError)) throw err;
    const { toFluxerError } = await import('../aws/errors.js');
    const cause = toFluxerError(err.cause);
    throw new FluxerError(`Job ${job.id} was not sent: ${cause.message}; ${describeWithdrawal(err.failure.status)}`, { code: cause.code, exitCode: cause.exitCode, hint: cause.hint, cause: err.cause });
  }
}

/** A failed estimate is not worth failing a submit over: it only informs. */
async function estimatePosition(deps: Parameters<typeof submitJob>[0], nowMs: number): Promise<QueuePosition | undefined> {
  try {
    const [depth, nodes] = await Promise.all([queueDepth(deps.sqs, deps.queueUrl), liveNodes(deps.s3, deps.loc, nowMs)]);
    return { messagesAhead: depth.visible, inFlight: depth.inFlight, liveNodes: nodes.length };
  } catch {
    return undefined;
  }
}

const batchLabel = (file: string) => (file === '-' ? 'stdin' : file);

/** The batch file's text, refused (naming the line) where it is not UTF-8. */
async function readBatchFile(ctx: Context, file: string): Promise<string> {
  return decodeBatch(await readBatchBytes(ctx, file), batchLabel(file));
}

async function readBatchBytes(ctx: Context, file: string): Promise<Uint8Array> {
  if (file !== '-') {
    try {
      return await readFile(file.startsWith('/') ? file : `${ctx.cwd}/${file}`);
    } catch (err) {
      throw new UsageError(`--batch ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const stdin = ctx.io.stdin as Partial<AsyncIterable<Buffer | string>>;
  if (ctx.io.stdin.isTTY || typeof stdin[Symbol.asyncIterator] !== 'function') {
    throw new UsageError('--batch -: reads prompts from stdin, but stdin is a terminal', { hint: 'Pipe them in: `cat prompts.txt | fluxer generate --batch -`.' });
  }
  // Bytes, not strings: a chunk boundary may split a character, and decoding is checked once, whole.
  const chunks: Buffer[] = [];
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
