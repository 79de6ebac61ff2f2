// `fluxer models list`: the models under <prefix>models/, from their manifests; a folder with files but
// no manifest is an incomplete push (or one replacing the model right now).
import { defineCommand } from '../../cli/command.js';
import { formatSize } from '../../core/models/format.js';
import { listModels } from '../../core/models/list.js';
import { modelsPrefix } from '../../core/models/manifest.js';
import { requireBucket } from '../../core/stack-resources.js';

export default defineCommand({
  name: 'list',
  description:
    'Lists the models pushed to s3://<bucket>/<prefix>models/: files, total size and when the manifest was written. ' +
    'A model with files but no manifest is "incomplete" (a push that did not finish: run it again); one whose ' +
    'manifest fails schema/model-manifest.v1.schema.json is "invalid". See docs/models.md.',
  examples: ['fluxer models list', 'fluxer models list --json'],
  async handler(ctx) {
    const { settings, stack } = ctx.config();
    const bucket = requireBucket(settings, stack);
    const s3 = await ctx.aws().s3();
    const models = await listModels(s3, bucket, settings.prefix);
    ctx.out.result(models, () =>
      models.length === 0
        ? ''
        : ctx.out.table(
            ['MODEL', 'STATE', 'FILES', 'SIZE', 'CREATED'],
            models.map((m) => [m.model, m.state === 'invalid' ? `invalid: ${m.problem}` : m.state, m.files, ctx.out.stdoutIsTTY ? formatSize(m.totalBytes) : m.totalBytes, m.createdAt]),
          ),
    );
    if (models.length === 0) ctx.out.info(`No models in s3://${bucket}/${modelsPrefix(settings.prefix)}: push one with \`fluxer models push DIR --model NAME\`.`);
    const incomplete = models.filter((m) => m.state === 'incomplete').map((m) => m.model);
    if (incomplete.length) ctx.out.warn(`Incomplete (files but no manifest): ${incomplete.join(', ')}. Run the same \`fluxer models push\` again to finish.`);
  },
});
