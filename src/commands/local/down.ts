// `fluxer local down`: stops every process `fluxer local up` started (workers drain first), by pid
// and process group, and checks that none is left. Logs stay; running it twice is harmless.
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { projectConfigPath } from '../../core/local/config.js';
import { bringDown } from '../../core/local/stack-down.js';
import { localPaths } from '../../core/local/state.js';

export default defineCommand<{ timeout: number }>({
  name: 'down',
  options: [
    { flags: '--timeout <duration>', description: 'how long workers may drain before SIGKILL', parse: durationFlag('--timeout', { minMs: 0, maxMs: 3_600_000 }), default: 30_000, defaultLabel: '30s' },
  ],
  examples: ['fluxer local down', 'fluxer local down --json'],
  async handler(ctx, _args, opts) {
    const paths = localPaths(projectConfigPath(ctx.cwd, ctx.globals.config));
    const result = await bringDown(paths, { workerGraceMs: opts.timeout, progress: (m) => ctx.out.info(m) });
    const killed = result.stopped.filter((s) => s.killed);
    ctx.out.result({ ...result, logs: paths.dir }, () => {
      if (!result.wasUp) return 'The local stack was not running; nothing to stop.';
      const workers = result.stopped.filter((s) => s.role === 'worker').length;
      const server = result.stopped.some((s) => s.role === 'server');
      return `Stopped ${workers} worker(s)${server ? ', the region and the server' : ''}${killed.length ? ` (${killed.length} needed SIGKILL)` : ''}. Logs kept in ${paths.dir}.`;
    });
  },
});
