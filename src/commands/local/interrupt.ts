// `fluxer local interrupt NODE`: sends a local node a spot interruption notice, as EC2 does two minutes
// before it reclaims a spot instance: the node's IMDS serves it at spot/instance-action, its runtime
// drains (a job that cannot finish in time is handed back to the queue for another node), and at the
// notice's time the node agent terminates (or stops) the instance.
import { defineCommand } from '../../cli/command.js';
import { durationFlag } from '../../cli/parse.js';
import { projectConfigPath } from '../../core/local/config.js';
import { localStatus } from '../../core/local/stack-status.js';
import { localPaths } from '../../core/local/state.js';
import { FluxerError, UsageError } from '../../lib/errors.js';
import { writeSpotNotice } from '../../lib/local-nodes.js';

const ACTIONS = ['terminate', 'stop', 'hibernate'] as const;

export default defineCommand<{ in: number; action: string }>({
  name: 'interrupt',
  description:
    'Sends a spot interruption notice to a local node (its IMDS answers spot/instance-action, as on EC2). Its runtime stops ' +
    'taking jobs and hands back a running job that cannot finish before the notice time; at that time the instance is ' +
    'terminated (or stopped, with --action stop). The interruption path, visible on one machine.',
  args: [{ name: 'NODE', description: 'instance id of a local node (see `fluxer local status`)', required: true }],
  options: [
    { flags: '--in <duration>', description: 'time until the interruption (EC2 gives 2 minutes)', parse: durationFlag('--in', { minMs: 0, maxMs: 3_600_000 }), default: 120_000, defaultLabel: '2m' },
    { flags: '--action <action>', description: `what happens at that time: ${ACTIONS.join(', ')}`, default: 'terminate' },
  ],
  examples: ['fluxer local interrupt i-0123456789abcdef0', 'fluxer local interrupt i-0123456789abcdef0 --in 10s --json'],
  async handler(ctx, args, opts) {
    const id = String(args[0] ?? '');
    if (!(ACTIONS as readonly string[]).includes(opts.action)) throw new UsageError(`--action "${opts.action}": must be one of ${ACTIONS.join(', ')}`);
    const paths = localPaths(projectConfigPath(ctx.cwd, ctx.globals.config));
    const status = await localStatus(paths);
    if (!status) throw new FluxerError(`The local stack is not up (no state in ${paths.dir})`, { code: 'LocalStackDown', hint: 'Start it with `fluxer local up`.' });
    const node = status.workers.find((w) => w.instanceId === id);
    if (!node) {
      const known = status.workers.map((w) => w.instanceId);
      throw new UsageError(`NODE "${id}": not a local node`, { hint: known.length ? `Local nodes: ${known.join(', ')}` : 'The local region has no nodes: `fluxer local up --workers 1` or `fluxer spot launch --stack local`.' });
    }
    if (node.state === 'dead') throw new UsageError(`NODE "${id}": its worker is not running (the instance is stopped or gone)`);
    const time = new Date(ctx.clock.now() + opts.in).toISOString().replace(/\.\d{3}Z$/, 'Z');
    writeSpotNotice(paths.nodesDir, id, { action: opts.action, time });
    ctx.out.result({ instanceId: id, action: opts.action, time }, () => `Spot interruption notice sent to ${id}: ${opts.action} at ${time}.`);
  },
});
