// `fluxer fleet scale N`: the fleet's desired capacity (within its bounds; --min/--max move them).
import { defineCommand } from '../../cli/command.js';
import { BOUNDS_OPTIONS, checkBoundsFlags, fleetContext, MAX_FLEET_SIZE, NO_FLEET_HINT } from '../../cli/fleet.js';
import { integerFlag } from '../../cli/parse.js';
import { readGroup } from '../../core/fleet/read.js';
import { breakerOf } from '../../core/fleet/status.js';
import { applyScale, scaleChange } from '../../core/fleet/scale.js';
import { FluxerError, UsageError } from '../../lib/errors.js';

interface ScaleOpts {
  min?: number;
  max?: number;
}

const desiredArg = integerFlag('N', 0, MAX_FLEET_SIZE);

export default defineCommand<ScaleOpts>({
  name: 'scale',
  description:
    'Sets the fleet\'s desired capacity to N (Auto Scaling launches or terminates nodes to match; a node protected\n' +
    'from scale-in is not chosen). N must lie within the group\'s min and max; --min / --max change them in the same\n' +
    'call. Target tracking may add nodes later when the backlog grows (it never removes them). See docs/fleet.md.',
  args: [{ name: 'N', description: 'nodes the fleet should run', required: true }],
  options: BOUNDS_OPTIONS,
  examples: ['fluxer fleet scale 2', 'fluxer fleet scale 0', 'fluxer fleet scale 10 --max 10 --json'],
  async handler(ctx, args, opts) {
    const desired = desiredArg(args[0] ?? '');
    checkBoundsFlags(opts);
    if (opts.max !== undefined && desired > opts.max) throw new UsageError(`N ${desired} is above --max ${opts.max}`, { code: 'FleetBounds', hint: 'Give N within --min and --max.' });
    if (opts.min !== undefined && desired < opts.min) throw new UsageError(`N ${desired} is below --min ${opts.min}`, { code: 'FleetBounds', hint: 'Give N within --min and --max.' });
    const f = await fleetContext(ctx);
    const group = await readGroup(f.autoscaling, f.groupName, f.stack);
    if (!group) throw new FluxerError(`Stack "${f.stack}" has no fleet in ${f.region} (no group ${f.groupName})`, { code: 'FleetMissing', hint: NO_FLEET_HINT });
    const change = scaleChange(group, { desired, ...(opts.min !== undefined ? { min: opts.min } : {}), ...(opts.max !== undefined ? { max: opts.max } : {}) });
    await applyScale(f.autoscaling, f.groupName, change, breakerOf(group) !== null);
    const { before, after } = change;
    ctx.out.result({ group: f.groupName, region: f.region, before, after }, () => '');
    ctx.out.success(
      `Fleet ${f.groupName}: desired ${before.desired} → ${after.desired} (min ${after.min}, max ${after.max}). ` +
        `\`fluxer fleet status\` follows the nodes${after.desired < before.desired ? '; the ones AWS terminates drain their job on shutdown' : ''}.`,
    );
  },
});
