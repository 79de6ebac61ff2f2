// `fluxer init`: write a stack into fluxer.config.json, by questions on a terminal or by flags in CI.
// Never changes an existing file without asking (or --yes to add a stack, --force to replace one).
import { resolve } from 'node:path';
import { defineCommand } from '../cli/command.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { confirmAction } from '../cli/prompter.js';
import { PROJECT_CONFIG_NAME, STACK_NAME } from '../config/loader.js';
import { MODELS, STACK_FIELDS, checkField, type ModelName, type StackKey } from '../config/schema.js';
import { inspectConfigFile, writeStack, type StackValues } from '../config/writer.js';

interface InitOpts {
  bucket?: string;
  queueName?: string;
  instanceTypes?: string[];
  maxPrice?: number;
  model?: ModelName;
  force?: boolean;
}

/** A flag parser that applies the config table's own check, so flag and file rules never differ. */
function settingFlag(flag: string, key: StackKey, convert: (text: string) => unknown = (t) => t) {
  return (text: string) => {
    const value = convert(text);
    const problem = checkField(key, value);
    if (problem) throw new UsageError(`${flag} ${JSON.stringify(text)}: ${problem}`);
    return value;
  };
}
const commaList = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);
const validator = (key: StackKey, convert: (t: string) => unknown = (t) => t) => (text: string) => checkField(key, convert(text)) ?? true;

export default defineCommand<InitOpts>({
  name: 'init',
  description:
    'Asks for each setting on a terminal; in CI give them as flags with --yes. The stack name is the global\n' +
    '--stack (default "default"), the region the global --region, the file ./fluxer.config.json or --config FILE.\n' +
    'An existing file is never changed without asking: adding a stack keeps the others (confirm, or --yes);\n' +
    'replacing an existing stack needs confirmation or --force.',
  options: [
    { flags: '--bucket <name>', description: 'S3 bucket for job status and images (required)', parse: settingFlag('--bucket', 'bucket') },
    { flags: '--queue-name <name>', description: 'SQS job queue name (default fluxer-<stack>-jobs)', parse: settingFlag('--queue-name', 'queueName') },
    { flags: '--instance-types <list>', description: 'comma-separated GPU instance types, preferred first', parse: settingFlag('--instance-types', 'instanceTypes', commaList) },
    { flags: '--max-price <usd>', description: 'highest spot price, USD per instance-hour (default: up to on-demand)', parse: settingFlag('--max-price', 'maxPrice', Number) },
    { flags: '--model <name>', description: 'default model', choices: MODELS },
    { flags: '--force', description: 'replace the stack if the file already has it' },
  ],
  examples: ['fluxer init', 'fluxer init --stack prod --region eu-west-1 --bucket acme-fluxer-prod --yes'],
  async handler(ctx, _args, opts) {
    const { globals, prompter } = ctx;
    const path = resolve(ctx.cwd, globals.config ?? PROJECT_CONFIG_NAME);
    const ask = ctx.out.interactive && !globals.yes;
    if (!ask && opts.bucket === undefined) {
      throw new UsageError('fluxer init needs --bucket when not run interactively', {
        hint: 'e.g. `fluxer init --stack prod --region us-east-1 --bucket my-fluxer-bucket --yes` (other settings have defaults).',
      });
    }
    if (globals.region !== undefined) {
      const problem = checkField('region', globals.region);
      if (problem) throw new UsageError(`--region: ${problem}`);
    }

    const stack = globals.stack ?? (ask ? await prompter.input('Stack name', { default: 'default', validate: (v) => STACK_NAME.test(v) || 'letters, digits, - and _ (at most 32)' }) : 'default');
    if (!STACK_NAME.test(stack)) throw new UsageError(`--stack "${stack}": use letters, digits, - and _ (at most 32)`);

    // Decide about the existing file before asking anything else: no answers thrown away.
    let replaceInvalid = false;
    let existing: ReturnType<typeof inspectConfigFile>;
    try {
      existing = inspectConfigFile(path);
    } catch (err) {
      if (!opts.force) throw new UsageError(`${(err as Error).message}`, { code: 'ConfigInvalid', hint: `Fix the file, or replace it entirely with \`fluxer init --force\`.` });
      ctx.out.warn(`${path} is not a valid config; --force replaces it.`);
      existing = { exists: true, stacks: [] };
      replaceInvalid = true;
    }
    if (existing.stacks.includes(stack) && !opts.force) {
      if (!ask) {
        throw new UsageError(`${path} already has a stack "${stack}"; nothing was written`, { code: 'ConfigExists', hint: `Re-run with --force to replace it, or choose another --stack.` });
      }
      if (!(await prompter.confirm(`${path} already has a stack "${stack}". Replace it?`, false))) {
        ctx.out.info('Nothing written.');
        return ExitCode.Failed;
      }
    } else if (existing.exists && !existing.stacks.includes(stack) && !opts.force) {
      const kept = existing.stacks.length ? ` (keeping ${existing.stacks.join(', ')})` : '';
      const ok = await confirmAction({ yes: globals.yes, interactive: ctx.out.interactive, prompter }, `Add stack "${stack}" to ${path}${kept}?`, `Adding stack "${stack}" to the existing ${path}`);
      if (!ok) {
        ctx.out.info('Nothing written.');
        return ExitCode.Failed;
      }
    }

    const envRegion = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || 'us-east-1';
    const region = globals.region ?? (ask ? await prompter.input('AWS region', { default: envRegion, validate: validator('region') }) : envRegion);
    const defaultQueue = STACK_FIELDS.queueName.default(stack);
    const queueName = opts.queueName ?? (ask ? await prompter.input('Job queue name', { default: defaultQueue, validate: validator('queueName') }) : defaultQueue);
    const bucket = opts.bucket ?? (await prompter.input('S3 bucket for results (globally unique name)', { validate: validator('bucket') }));
    const defaultTypes = STACK_FIELDS.instanceTypes.default();
    const instanceTypes =
      opts.instanceTypes ??
      (ask ? commaList(await prompter.input('GPU instance types, preferred first', { default: defaultTypes.join(','), validate: validator('instanceTypes', commaList) })) : defaultTypes);
    const maxPrice =
      opts.maxPrice ??
      (ask ? toOptionalPrice(await prompter.input('Max spot price in USD/hour (empty: up to on-demand)', { default: '', validate: (t) => (t.trim() === '' ? true : validator('maxPrice', Number)(t)) })) : undefined);
    const model =
      opts.model ?? (ask ? await prompter.select<ModelName>('Default model', MODELS.map((m) => ({ value: m })), STACK_FIELDS.model.default() as ModelName) : (STACK_FIELDS.model.default() as ModelName));

    const settings: StackValues = { region, queueName, bucket, instanceTypes, maxPrice, model };
    const written = writeStack(path, stack, settings, { setDefault: !existing.exists || replaceInvalid ? true : undefined, replaceInvalid });
    ctx.out.result({ ...written, stack, settings }, () => {
      const verb = written.createdFile ? 'Created' : written.replacedStack ? 'Replaced stack in' : 'Added stack to';
      return `${verb} ${path}: stack "${stack}"${written.defaultStack === stack ? ' (default)' : ''}`;
    });
    const stackFlag = written.defaultStack === stack ? '' : ` --stack ${stack}`;
    ctx.out.info(`Next: \`fluxer setup${stackFlag}\` creates the queue and bucket.`);
    return ExitCode.Ok;
  },
});

function toOptionalPrice(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}
