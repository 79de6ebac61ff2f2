// `fluxer config show`: the merged settings of the current stack and where each came from.
import { defineCommand } from '../../cli/command.js';
import { checkStackHeartbeat } from '../../config/heartbeat.js';
import { describeSource } from '../../config/loader.js';
import { STACK_FIELDS, STACK_KEYS } from '../../config/schema.js';

export default defineCommand({
  name: 'show',
  examples: ['fluxer config show', 'fluxer config show --stack prod --json'],
  async handler(ctx) {
    const config = ctx.config();
    // A config a node would refuse at start is not shown as if it were fine.
    checkStackHeartbeat(config);
    const rows = STACK_KEYS.map((key) => ({
      key,
      value: config.settings[key] ?? null,
      source: describeSource(config.sources[key]),
      description: STACK_FIELDS[key].description,
    }));
    ctx.out.result(
      {
        stack: config.stack,
        stackSource: describeSource(config.stackSource),
        files: config.files.map((f) => ({ path: f.path, kind: f.kind })),
        settings: Object.fromEntries(rows.map((r) => [r.key, { value: r.value, source: r.source }])),
      },
      () => {
        const header = `stack ${ctx.out.out.bold(config.stack)} (${describeSource(config.stackSource)})`;
        const files = config.files.length ? config.files.map((f) => `${f.kind} file: ${f.path}`).join('\n') : 'no config file found (defaults and environment only)';
        const table = ctx.out.table(
          ['KEY', 'VALUE', 'SOURCE'],
          rows.map((r) => [r.key, r.value === null ? '-' : Array.isArray(r.value) ? r.value.join(',') : String(r.value), r.source]),
        );
        return ctx.out.stdoutIsTTY ? `${header}\n${files}\n\n${table}` : table;
      },
    );
  },
});
