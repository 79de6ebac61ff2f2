// What the `fluxer fleet …` commands share on the terminal side: the stack's fleet names and region,
// the ports in the nodes' region, and the bounds flags (checked before any AWS call).
import type { Context } from './context.js';
import { integerFlag } from './parse.js';
import type { OptionSpec } from './command.js';
import { fleetGroupName, fleetTemplateName } from '../core/fleet/names.js';
import { UsageError } from '../lib/errors.js';

export const MAX_FLEET_SIZE = 1000;

export const BOUNDS_OPTIONS: OptionSpec[] = [
  { flags: '--min <n>', description: 'fewest nodes the group keeps (0 lets it go to zero)', parse: integerFlag('--min', 0, MAX_FLEET_SIZE) },
  { flags: '--max <n>', description: 'most nodes the group may run', parse: integerFlag('--max', 1, MAX_FLEET_SIZE) },
];

/** --min above --max, when both are given: exit 2 before anything is sent. */
export function checkBoundsFlags(opts: { min?: number; max?: number }): void {
  if (opts.min !== undefined && opts.max !== undefined && opts.min > opts.max) {
    throw new UsageError(`--min ${opts.min} is above --max ${opts.max}`, { code: 'FleetBounds', hint: 'Give --min ≤ --max.' });
  }
}

export async function fleetContext(ctx: Context) {
  const config = ctx.config();
  const { settings, stack } = config;
  const region = settings.spotRegion ?? settings.region;
  const aws = ctx.aws();
  const [ec2, autoscaling] = await Promise.all([aws.ec2(region), aws.autoscaling(region)]);
  return { config, settings, stack, region, aws, ec2, autoscaling, groupName: fleetGroupName(stack), templateName: fleetTemplateName(stack) };
}

export const NO_FLEET_HINT = "Create it with `fluxer fleet up`.";
