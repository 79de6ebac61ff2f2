// What the `fluxer fleet …` commands share on the terminal side: the stack's fleet names and region,
// the ports in the nodes' region, and the bounds flags (checked before any AWS call).
import type { Context } from './context.js';
import { integerFlag } from './parse.js';
import type { OptionSpec } from './command.js';
import { fleetGroupName, fleetTemplateName } from '../core/fleet/names.js';
import { describeZeroOutcome, fleetField, lookAtFleet, raiseFromZero, type FleetField } from '../core/fleet/zero.js';
import { UsageError } from '../lib/errors.js';
import { fluxerStateDir } from '../lib/state-dir.js';

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

/**
 * Scale from zero for `generate`: the fleet is looked at (cache, else one DescribeAutoScalingGroups)
 * from the moment this is called, alongside the sends; `settle(sent)` applies the rule once the jobs
 * are out, prints a line when there is something to say, and gives the `fleet` field of --json (null
 * when nothing was sent, or the stack has no fleet).
 */
export function scaleFromZeroFor(ctx: Context): { settle(sent: number): Promise<FleetField | null> } {
  const { settings, stack } = ctx.config();
  const region = settings.spotRegion ?? settings.region;
  const aws = ctx.aws();
  const groupName = fleetGroupName(stack);
  const asg = () => aws.autoscaling(region);
  const t0 = performance.now();
  let lookedAt = 0;
  const look = lookAtFleet(asg, { ...zeroCacheFor(ctx, region), nowMs: ctx.clock.now() }, groupName, stack).finally(() => (lookedAt = performance.now()));
  return {
    async settle(sent) {
      if (sent <= 0) return null;
      const settling = performance.now();
      const looked = await look;
      const raising = performance.now();
      const outcome = await raiseFromZero(asg, looked, sent);
      // What it added to the command: the look's wait after the sends, and the raise.
      ctx.out.debug(`scale from zero: ${outcome.kind}; look ${(lookedAt - t0).toFixed(1)} ms (${Math.max(0, raising - settling).toFixed(1)} ms after the sends), raise ${(performance.now() - raising).toFixed(1)} ms`);
      const note = describeZeroOutcome(outcome, groupName);
      if (note) ctx.out.info(note);
      return fleetField(outcome, groupName);
    },
  };
}

/** Where `fleet up` and `generate` keep "this stack has no fleet" (see src/core/fleet/zero.ts). */
export function zeroCacheFor(ctx: Context, region: string) {
  return { dir: fluxerStateDir(ctx.env, 'cache'), endpoint: ctx.aws().endpointFor('AUTO_SCALING'), region };
}
