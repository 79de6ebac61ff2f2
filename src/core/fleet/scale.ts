// `fluxer fleet scale` as a library: the desired capacity within the group's bounds (--min/--max move
// them in the same call), one UpdateAutoScalingGroup. Target tracking and the nodes move it afterwards.
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort } from '../../aws/autoscaling.js';
import { UsageError } from '../../lib/errors.js';
import { BREAKER_TAG } from './names.js';

export interface ScaleRequest {
  desired: number;
  min?: number;
  max?: number;
}

export interface ScaleChange {
  before: { min: number; max: number; desired: number };
  after: { min: number; max: number; desired: number };
}

/** The group's new numbers, or a usage error naming the bound that refuses N (pure). */
export function scaleChange(group: Pick<Asg.AutoScalingGroup, 'MinSize' | 'MaxSize' | 'DesiredCapacity'>, req: ScaleRequest): ScaleChange {
  const before = { min: group.MinSize ?? 0, max: group.MaxSize ?? 0, desired: group.DesiredCapacity ?? 0 };
  const after = { min: req.min ?? before.min, max: req.max ?? before.max, desired: req.desired };
  if (after.min > after.max) throw new UsageError(`min ${after.min} is above max ${after.max}`, { code: 'FleetBounds', hint: 'Give --min ≤ --max.' });
  if (req.desired > after.max) {
    throw new UsageError(`${req.desired} is above the fleet's max ${after.max}`, { code: 'FleetBounds', hint: `Raise it in the same call: \`fluxer fleet scale ${req.desired} --max ${req.desired}\`.` });
  }
  if (req.desired < after.min) {
    throw new UsageError(`${req.desired} is below the fleet's min ${after.min}`, { code: 'FleetBounds', hint: `Lower it in the same call: \`fluxer fleet scale ${req.desired} --min ${req.desired}\`.` });
  }
  return { before, after };
}

export async function applyScale(asg: Pick<AutoScalingPort, 'updateAutoScalingGroup'> & Partial<Pick<AutoScalingPort, 'deleteTags' | 'resumeProcesses'>>, groupName: string, change: ScaleChange, breakerSet = false): Promise<void> {
  const { before, after } = change;
  // Scaling again is how an operator resumes a fleet the boot-failure breaker stopped: its tag goes and
  // the group's alarm actions (target tracking, the scale-from-zero alarm), which the breaker suspended, resume.
  if (breakerSet && asg.deleteTags) await asg.deleteTags({ Tags: [{ ResourceId: groupName, ResourceType: 'auto-scaling-group', Key: BREAKER_TAG }] });
  if (breakerSet && asg.resumeProcesses) await asg.resumeProcesses({ AutoScalingGroupName: groupName, ScalingProcesses: ['AlarmNotification'] });
  await asg.updateAutoScalingGroup({
    AutoScalingGroupName: groupName,
    ...(after.min !== before.min ? { MinSize: after.min } : {}),
    ...(after.max !== before.max ? { MaxSize: after.max } : {}),
    DesiredCapacity: after.desired,
  });
}
