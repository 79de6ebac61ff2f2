// Building a job message from what the user asked for, and validating it with the one job schema
// (schema/job.v1.schema.json) that the runtime also uses. Bounds and per-model defaults are read
// from the schema — never restated here — and ajv's errors become one line that names the flag
// (or the batch line) the bad value came from.
import { randomInt } from 'node:crypto';
import { UsageError } from '../lib/errors.js';
import { JOB_SCHEMA, modelDefaults } from '../lib/job-schema.js';

export interface JobOutput {
  bucket: string;
  prefix: string;
}

/** The SQS message body (job contract v1). */
export interface Job {
  version: 1;
  id: string;
  prompt: string;
  negativePrompt?: string;
  model: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  count: number;
  output: JobOutput;
  submittedAt: string;
  submittedBy?: string;
  deadline?: string;
}

/** What the user asked for; omitted fields come from the model's defaults (or a random seed). */
export interface JobRequest {
  prompt?: unknown;
  negativePrompt?: unknown;
  model?: unknown;
  width?: unknown;
  height?: unknown;
  steps?: unknown;
  guidance?: unknown;
  seed?: unknown;
  count?: unknown;
}

/** Where a request came from, so an error can point at the flag or the batch line to fix. */
export type RequestOrigin =
  | { kind: 'flags'; /** the --size text as typed, e.g. "1000x1000" */ sizeText?: string }
  | { kind: 'line'; source: string; line: number };

export interface BuildContext {
  id: string;
  now: Date;
  output: JobOutput;
  submittedBy?: string;
  defaultModel: string;
  /** Injected for tests; default: a uniform random seed within the schema's bounds. */
  randomSeed?: () => number;
}

function randomSeedFromSchema(): number {
  const { minimum = 0, maximum = 2 ** 32 - 1 } = JOB_SCHEMA.properties.seed ?? {};
  return randomInt(minimum, maximum + 1);
}

type Validate = ((data: unknown) => boolean) & { errors?: AjvError[] | null };
interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

let validatorCache: Promise<Validate> | undefined;
/** ajv is loaded and the schema compiled once, on the first job: `fluxer --help` never pays for it. */
export function jobValidator(): Promise<Validate> {
  validatorCache ??= (async () => {
    const [ajvModule, formatsModule] = await Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]);
    // Both are CommonJS with `exports.default`: reached as .default.default from ESM, .default from the CJS bundle.
    const Ajv2020 = ajvModule.default.default ?? ajvModule.default;
    const addFormats = formatsModule.default.default ?? formatsModule.default;
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    return ajv.compile(JOB_SCHEMA) as Validate;
  })();
  return validatorCache;
}

/** Fills defaults and validates; throws a UsageError naming the flag or line. */
export async function buildJob(request: JobRequest, ctx: BuildContext, origin: RequestOrigin = { kind: 'flags' }): Promise<Job> {
  const validate = await jobValidator();
  const model = request.model ?? ctx.defaultModel;
  const defaults = typeof model === 'string' ? modelDefaults(model) : {};
  const job: Record<string, unknown> = {
    version: 1,
    id: ctx.id,
    prompt: request.prompt,
    ...(request.negativePrompt !== undefined && request.negativePrompt !== '' ? { negativePrompt: request.negativePrompt } : {}),
    model,
    width: request.width ?? defaults.width,
    height: request.height ?? defaults.height,
    steps: request.steps ?? defaults.steps,
    guidance: request.guidance ?? defaults.guidance,
    seed: request.seed ?? (ctx.randomSeed ?? randomSeedFromSchema)(),
    count: request.count ?? 1,
    output: { bucket: ctx.output.bucket, prefix: ctx.output.prefix },
    submittedAt: ctx.now.toISOString(),
    ...(ctx.submittedBy ? { submittedBy: ctx.submittedBy.slice(0, 256) } : {}),
  };
  // Drop undefined fields so the schema reports them as missing rather than as the wrong type.
  for (const key of Object.keys(job)) if (job[key] === undefined) delete job[key];
  if (!validate(job)) throw new UsageError(describeErrors(validate.errors ?? [], job, origin));
  const control = controlCharacterProblem(job, origin);
  if (control) throw new UsageError(control, { hint: 'Remove the control character (tabs and newlines are fine).' });
  return job as unknown as Job;
}

// C0 controls and DEL other than tab and newlines: terminal escapes or NULs pasted into a prompt are
// never meant for the model, and they garble every log and listing that shows the prompt.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function controlCharacterProblem(job: Record<string, unknown>, origin: RequestOrigin): string | undefined {
  for (const field of ['prompt', 'negativePrompt'] as const) {
    const text = job[field];
    const m = typeof text === 'string' ? CONTROL.exec(text) : null;
    if (!m) continue;
    const what = `contains the control character U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at position ${m.index + 1}`;
    return origin.kind === 'line' ? `${originLabel(origin)}${field} ${what}` : `${FLAG_OF[field]}: ${what}`;
  }
  return undefined;
}

const FIELD_ORDER = ['model', 'prompt', 'negativePrompt', 'width', 'height', 'steps', 'guidance', 'seed', 'count', 'output', 'submittedBy'];
const FLAG_OF: Record<string, string> = {
  prompt: 'PROMPT',
  negativePrompt: '--negative',
  model: '--model',
  width: '--size',
  height: '--size',
  steps: '--steps',
  guidance: '--guidance',
  seed: '--seed',
  count: '--count',
  output: 'the stack\'s bucket/prefix setting',
};

/** ajv errors → one line: the most relevant problem, then how many more there are. */
export function describeErrors(errors: AjvError[], job: Record<string, unknown>, origin: RequestOrigin): string {
  // `if` errors only say "must match then schema"; the branch's own error says what is wrong.
  let useful = errors.filter((e) => e.keyword !== 'if');
  const fieldOf = (e: AjvError) => (e.keyword === 'required' ? String(e.params.missingProperty) : e.keyword === 'not' ? 'negativePrompt' : e.instancePath.split('/')[1] ?? '');
  // An unknown model has no defaults: its missing width/height/steps/guidance are consequences, not problems.
  if (useful.some((e) => fieldOf(e) === 'model' && e.keyword !== 'required')) useful = useful.filter((e) => e.keyword !== 'required');
  const rank = (e: AjvError) => {
    const i = FIELD_ORDER.indexOf(fieldOf(e));
    return (e.keyword === 'required' ? 100 : 0) + (i === -1 ? 50 : i);
  };
  const sorted = [...useful].sort((a, b) => rank(a) - rank(b));
  const messages = [...new Set(sorted.map((e) => describeError(e, job, origin, fieldOf(e))))];
  if (messages.length === 0) return `${originLabel(origin)}invalid job`;
  const more = messages.length - 1;
  return more > 0 ? `${messages[0]} (and ${more} more problem${more === 1 ? '' : 's'})` : messages[0]!;
}

function originLabel(origin: RequestOrigin): string {
  return origin.kind === 'line' ? `${origin.source} line ${origin.line}: ` : '';
}

function describeError(e: AjvError, job: Record<string, unknown>, origin: RequestOrigin, field: string): string {
  const model = String(job.model);
  const forModel = e.schemaPath.includes('/allOf/') ? ` for ${model}` : '';
  const value = job[field];
  let what: string;
  switch (e.keyword) {
    case 'maximum':
      what = `must be at most ${String(e.params.limit)}${forModel}`;
      break;
    case 'minimum':
      what = `must be at least ${String(e.params.limit)}${forModel}`;
      break;
    case 'multipleOf':
      what = `must be a multiple of ${String(e.params.multipleOf)}`;
      break;
    case 'type':
      what = e.params.type === 'integer' ? 'must be a whole number' : e.params.type === 'number' ? 'must be a number' : `must be ${String(e.params.type)}`;
      break;
    case 'enum':
      what = `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
      break;
    case 'minLength':
      what = e.params.limit === 1 ? 'must not be empty' : `must be at least ${String(e.params.limit)} characters`;
      break;
    case 'maxLength':
      what = `must be at most ${String(e.params.limit)} characters (got ${String((value as string | undefined)?.length ?? 0)})`;
      break;
    case 'not':
      what = `${model} does not take a negative prompt`;
      break;
    case 'required':
      what = field === 'prompt' ? 'a prompt is required' : `${field} is required`;
      break;
    default:
      what = e.message ?? 'is not valid';
  }
  const prefix = originLabel(origin);
  if (origin.kind === 'line') {
    if (e.keyword === 'required' || e.keyword === 'not') return `${prefix}${what}`;
    return `${prefix}${field} ${JSON.stringify(value)} ${what}`;
  }
  // From flags: name the flag and the value as the user typed it.
  const flag = FLAG_OF[field] ?? field;
  if (e.keyword === 'required') return field === 'prompt' ? `PROMPT: ${what}` : `${flag}: ${what}`;
  if (e.keyword === 'not') return `--negative: ${what}`;
  if (field === 'width' || field === 'height') {
    const typed = origin.sizeText ?? `${String(job.width)}x${String(job.height)}`;
    return `--size ${typed}: ${field} ${String(value)} ${what}`;
  }
  if (field === 'prompt') return `PROMPT: ${what}`;
  if (field === 'output') return `${flag} ${e.instancePath.replace('/output/', '')} ${JSON.stringify(getPath(job, e.instancePath))}: ${what}`;
  return `${flag} ${typeof value === 'string' ? value : JSON.stringify(value)}: ${what}`;
}

function getPath(obj: Record<string, unknown>, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}
