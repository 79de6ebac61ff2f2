// `fluxer local status`: the local stack's endpoint, queue, bucket and each worker's state.
import { defineCommand } from '../../cli/command.js';
import { FluxerError } from '../../lib/errors.js';
import { projectConfigPath } from '../../core/local/config.js';
import { formatLocalStatus } from '../../core/local/format.js';
import { localStatus } from '../../core/local/stack.js';
import { localPaths } from '../../core/local/state.js';

export default defineCommand({
  name: 'status',
  examples: ['fluxer local status', 'fluxer local status --json'],
  async handler(ctx) {
    const paths = localPaths(projectConfigPath(ctx.cwd, ctx.globals.config));
    const status = await localStatus(paths);
    if (!status) {
      throw new FluxerError(`The local stack is not up (no state in ${paths.dir})`, { code: 'LocalStackDown', hint: 'Start it with `fluxer local up`.' });
    }
    ctx.out.result(status, () => formatLocalStatus(ctx.out, status));
    if (!status.up) {
      ctx.out.warn(`The local server (pid ${status.server.pid}) is ${status.server.state}.`);
      ctx.out.info('Hint: `fluxer local up` restarts what is missing.');
      return 1;
    }
    const notReady = status.workers.filter((w) => w.state !== 'READY' && w.state !== 'BUSY');
    if (notReady.length) ctx.out.warn(`${notReady.length} worker(s) not ready (${notReady.map((w) => `${w.pid}: ${w.state}`).join(', ')}); \`fluxer local up\` restarts dead or failed ones.`);
    return 0;
  },
});
