// `fluxer local status`: the local region's endpoint, queue, bucket and every local node (however it was
// started: `local up` or `spot launch --stack local`) with its worker's pid and state.
import { defineCommand } from '../../cli/command.js';
import { FluxerError } from '../../lib/errors.js';
import { projectConfigPath } from '../../core/local/config.js';
import { formatLocalStatus } from '../../core/local/format.js';
import { localStatus } from '../../core/local/stack-status.js';
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
      const down = status.server.state !== 'up' ? `The moto server (pid ${status.server.pid}) is ${status.server.state}.` : `The local region (pid ${status.regionProcess?.pid ?? '-'}) is ${status.regionProcess?.state ?? 'dead'}.`;
      ctx.out.warn(down);
      ctx.out.info('Hint: `fluxer local up` restarts what is missing.');
      return 1;
    }
    const notReady = status.workers.filter((w) => w.state !== 'READY' && w.state !== 'BUSY');
    if (notReady.length) ctx.out.warn(`${notReady.length} node(s) not ready (${notReady.map((w) => `${w.instanceId}: ${w.state}`).join(', ')}); a node whose worker died shows its instance stopped, and \`fluxer local up\` launches a replacement.`);
    return 0;
  },
});
