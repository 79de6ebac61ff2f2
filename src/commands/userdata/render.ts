// `fluxer userdata render`: a node's cloud-init user data from a template and the stack's values,
// checked for EC2's size limit and for secrets (src/core/userdata/render.ts does the work).
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { UsageError } from '../../lib/errors.js';
import { keyValueFlag } from '../../cli/parse.js';
import { TEMPLATES_DIR } from '../../lib/paths.js';
import { describeSource } from '../../config/loader.js';

interface RenderOpts {
  template?: string;
  var?: Record<string, string>;
  out?: string;
  gzip?: boolean;
  base64?: boolean;
}

const BINARY_TO_TERMINAL_HINT = 'Write it to a file with --out FILE, or pass --base64 (what the EC2 API takes).';

export default defineCommand<RenderOpts>({
  name: 'render',
  description:
    'Fills a template (templates/<name>.yaml, or a file) with the stack\'s settings and --var values and prints the ' +
    'user data. EC2 takes at most 16,384 bytes (before base64): larger output is gzipped automatically (cloud-init ' +
    'reads gzip) with a note on stderr; still too large is an error listing the largest parts. Output holding an AWS ' +
    'key, a Hugging Face token or a private key is refused: keep secrets in SSM Parameter Store, pass their names. ' +
    'queue_url, when not given with --var, is looked up with SQS GetQueueUrl. With --json the report replaces the ' +
    'user data on stdout (use --out to get both). Gzip output is byte-for-byte reproducible. See docs/userdata.md.',
  options: [
    { flags: '--template <name|file>', description: 'template name in templates/ or a file path (default: the stack\'s template setting)' },
    { flags: '--var <key=value>', description: 'set a template variable (repeatable; wins over the config)', parse: keyValueFlag('--var'), repeatable: true },
    { flags: '--out <file>', description: 'write the user data to FILE instead of stdout' },
    { flags: '--gzip', description: 'gzip even when the plain text fits' },
    { flags: '--base64', description: 'base64-encode the output (as the EC2 API carries it)' },
  ],
  examples: [
    'fluxer userdata render --var queue_url=https://sqs.us-east-1.amazonaws.com/123456789012/fluxer-default-jobs',
    'fluxer userdata render --stack prod --out node.yaml',
    'fluxer userdata render --gzip --base64 --out node.b64',
    'fluxer userdata render --template ./my-node.yaml --var model_dir=/mnt/models --json',
  ],
  async handler(ctx, _args, opts) {
    const { renderUserData } = await import('../../core/userdata/render.js');
    const { stackVariables } = await import('../../core/userdata/variables.js');
    const { formatBytes } = await import('../../core/userdata/payload.js');
    const config = ctx.config();
    const { settings } = config;
    const toTerminal = !opts.out && !ctx.out.json && ctx.out.stdoutIsTTY && !opts.base64;
    // Refused before rendering (and before any lookup) when the user asked for gzip outright.
    if (opts.gzip && toTerminal) throw new UsageError('Refusing to print gzip (binary) user data to a terminal', { code: 'BinaryToTerminal', hint: BINARY_TO_TERMINAL_HINT });

    const rendered = await renderUserData({
      templateRef: opts.template ?? settings.template,
      templateRefLabel: opts.template !== undefined ? '--template' : `template setting (${describeSource(config.sources.template)})`,
      templatesDir: TEMPLATES_DIR,
      cwd: ctx.cwd,
      stackValues: stackVariables(config),
      vars: opts.var ?? {},
      forceGzip: opts.gzip ?? false,
      stackHints: { region: settings.region, queueName: settings.queueName },
      resolveQueueUrl: async () => {
        const sqs = await ctx.aws().sqs();
        const { QueueUrl } = await sqs.getQueueUrl({ QueueName: settings.queueName });
        if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
        return { value: QueueUrl, source: `SQS GetQueueUrl ${settings.queueName}` };
      },
    });
    if (rendered.gzip && toTerminal) throw new UsageError(`The user data was gzipped (over ${formatBytes(rendered.limit)}); refusing to print binary data to a terminal`, { code: 'BinaryToTerminal', hint: BINARY_TO_TERMINAL_HINT });

    for (const w of rendered.warnings) ctx.out.warn(w);
    if (rendered.autoGzip) {
      ctx.out.info(`User data is ${formatBytes(rendered.bytes)}, over EC2's ${formatBytes(rendered.limit)} limit: gzipped to ${formatBytes(rendered.gzippedBytes)} (cloud-init reads gzip).`);
    }
    const data = opts.base64 ? Buffer.from(`${rendered.payload.toString('base64')}\n`) : rendered.payload;
    const outPath = opts.out ? resolve(ctx.cwd, opts.out) : undefined;
    if (outPath) {
      writeFileSync(outPath, data);
      ctx.out.success(`Wrote ${formatBytes(data.length)} of user data to ${opts.out}${describeEncoding(rendered.gzip, opts.base64)}`);
    }
    const report = {
      template: rendered.template.name,
      templatePath: rendered.template.path,
      bytes: rendered.bytes,
      limit: rendered.limit,
      gzip: rendered.gzip,
      gzippedBytes: rendered.gzippedBytes,
      base64Bytes: rendered.base64Bytes,
      fits: rendered.fits,
      sha256: rendered.sha256,
      out: outPath ?? null,
      variables: rendered.variables,
      warnings: rendered.warnings,
    };
    if (ctx.out.json) ctx.out.result(report, () => '');
    else if (!outPath) ctx.out.raw(data);
  },
});

function describeEncoding(gzip: boolean, base64: boolean | undefined): string {
  const parts = [gzip ? 'gzip' : '', base64 ? 'base64' : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
