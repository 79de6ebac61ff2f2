// What the fleet should be, as AWS documents it (pure: `fleet up` diffs these against what it reads):
// the launch template's data (the launch specification, no market options), the group's settings
// (MixedInstancesPolicy 100 % spot over types × subnets, price-capacity-optimized, Capacity
// Rebalancing, tags propagated), the target-tracking policy on backlog per instance (metric math,
// scale-in disabled: the nodes scale in, issue 17) and the node role's policy on its own group.
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-mixed-instances-groups.html
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-target-tracking-metric-math.html
import type * as Asg from '@aws-sdk/client-auto-scaling';
import type * as Cw from '@aws-sdk/client-cloudwatch';
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { LaunchSpec } from '../launch/spec.js';
import type { PolicyDocument } from '../node-policy.js';
import { fluxerTags } from '../tags.js';
import { BACKLOG_POLICY_NAME, ZERO_POLICY_NAME, zeroAlarmName } from './names.js';

/**
 * The launch specification as template data. The first instance type rides along as the template's own
 * type: a mixed-instances group's overrides take precedence over it (AWS), and it keeps the template
 * launchable by itself (moto reads the type only from the template).
 */
export function templateData(spec: LaunchSpec, firstType: string): Ec2.RequestLaunchTemplateData {
  return {
    ImageId: spec.ImageId,
    InstanceType: firstType as Ec2.RequestLaunchTemplateData['InstanceType'],
    IamInstanceProfile: spec.IamInstanceProfile,
    SecurityGroupIds: spec.SecurityGroupIds,
    MetadataOptions: spec.MetadataOptions as Ec2.LaunchTemplateInstanceMetadataOptionsRequest,
    InstanceInitiatedShutdownBehavior: spec.InstanceInitiatedShutdownBehavior,
    BlockDeviceMappings: spec.BlockDeviceMappings as Ec2.LaunchTemplateBlockDeviceMappingRequest[],
    UserData: spec.UserData,
    TagSpecifications: spec.TagSpecifications as Ec2.LaunchTemplateTagSpecificationRequest[],
  };
}

export interface GroupInput {
  stack: string;
  groupName: string;
  templateName: string;
  instanceTypes: readonly string[];
  subnetIds: readonly string[];
  minSize: number;
  maxSize: number;
  /** USD per hour (the stack's maxPrice); undefined: AWS's default, the on-demand price. */
  maxPrice: number | undefined;
}

export function mixedInstancesPolicy(g: Pick<GroupInput, 'templateName' | 'instanceTypes' | 'maxPrice'>): Asg.MixedInstancesPolicy {
  return {
    // $Default: a version fluxer makes the default (fleet up's correction, fleet roll's new AMI or release) is
    // what new nodes launch with; a refresh replaces the running ones.
    LaunchTemplate: { LaunchTemplateSpecification: { LaunchTemplateName: g.templateName, Version: '$Default' }, Overrides: g.instanceTypes.map((t) => ({ InstanceType: t })) },
    InstancesDistribution: {
      OnDemandBaseCapacity: 0,
      OnDemandPercentageAboveBaseCapacity: 0,
      SpotAllocationStrategy: 'price-capacity-optimized',
      ...(g.maxPrice !== undefined ? { SpotMaxPrice: String(g.maxPrice) } : {}),
    },
  };
}

/** The group's tags: fluxer's own, propagated so each node carries the stack's gpu-node tags (the node agent and `spot list` find it). */
export function groupTags(stack: string, groupName: string): Asg.Tag[] {
  return fluxerTags(stack, 'gpu-node', `fluxer-${stack}-node`).map((t) => ({ ...t, ResourceId: groupName, ResourceType: 'auto-scaling-group', PropagateAtLaunch: true }));
}

export function createGroupInput(g: GroupInput): Asg.CreateAutoScalingGroupCommandInput {
  return {
    AutoScalingGroupName: g.groupName,
    MinSize: g.minSize,
    MaxSize: g.maxSize,
    DesiredCapacity: g.minSize,
    VPCZoneIdentifier: g.subnetIds.join(','),
    MixedInstancesPolicy: mixedInstancesPolicy(g),
    CapacityRebalance: true,
    Tags: groupTags(g.stack, g.groupName),
  };
}

/**
 * Backlog per instance = (visible + in flight) ÷ in-service instances: jobs waiting or running per
 * node. Target tracking adds nodes while it is above `jobsPerNode`; scale-in is disabled (a node that
 * is idle leaves by itself, issue 17). With no node in service the ratio has no value: scaling from
 * zero is a separate step (issue 17; `fleet scale` meanwhile).
 */
export function backlogPolicy(groupName: string, queueName: string, jobsPerNode: number): Asg.PutScalingPolicyCommandInput {
  const queue = (metric: string, id: string): Asg.TargetTrackingMetricDataQuery => ({
    Id: id,
    MetricStat: { Metric: { Namespace: 'AWS/SQS', MetricName: metric, Dimensions: [{ Name: 'QueueName', Value: queueName }] }, Stat: 'Sum' },
    ReturnData: false,
  });
  return {
    AutoScalingGroupName: groupName,
    PolicyName: BACKLOG_POLICY_NAME,
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingConfiguration: {
      TargetValue: jobsPerNode,
      DisableScaleIn: true,
      CustomizedMetricSpecification: {
        Metrics: [
          queue('ApproximateNumberOfMessagesVisible', 'visible'),
          queue('ApproximateNumberOfMessagesNotVisible', 'inflight'),
          {
            Id: 'inservice',
            MetricStat: { Metric: { Namespace: 'AWS/AutoScaling', MetricName: 'GroupInServiceInstances', Dimensions: [{ Name: 'AutoScalingGroupName', Value: groupName }] }, Stat: 'Average' },
            ReturnData: false,
          },
          { Id: 'backlog', Expression: '(visible + inflight) / inservice', Label: 'Backlog per instance', ReturnData: true },
        ],
      },
    },
  };
}

/**
 * A node's boot, pull and load, as the zero policy's warmup: while the node it added warms up, further
 * breaches of the same step add nothing ("multiple alarm breaches that fall in the range of the same
 * step adjustment result in a single scaling activity", Auto Scaling user guide, step scaling).
 */
export const ZERO_POLICY_WARMUP_S = 600;

/**
 * The backstop's policy: step scaling, ChangeInCapacity +1 for any breach. Why not ExactCapacity 1:
 * an alarm with an Auto Scaling action invokes it again every minute it stays in ALARM, and its view
 * of the group lags by a minute or more; "set to 1" on a stale "at 0" would lower a fleet that has
 * grown meanwhile, "+1" at worst adds a node, which leaves again by itself when idle (issue 17). The
 * group's bounds cap it (max 0 stays 0).
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html
 */
export function scaleFromZeroPolicy(groupName: string): Asg.PutScalingPolicyCommandInput {
  return {
    AutoScalingGroupName: groupName,
    PolicyName: ZERO_POLICY_NAME,
    PolicyType: 'StepScaling',
    AdjustmentType: 'ChangeInCapacity',
    MetricAggregationType: 'Maximum',
    EstimatedInstanceWarmup: ZERO_POLICY_WARMUP_S,
    StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
  };
}

/** The alarm's expression: the visible messages, counted only while the group wants no node. */
export const ZERO_ALARM_EXPRESSION = 'IF(FILL(desired, 0) == 0, visible, 0)';

/**
 * The backstop alarm: over one 60 s period, messages visible in the queue while the group's desired
 * capacity is 0 → the zero policy. Once desired is 1 the expression is 0 and the alarm returns to OK,
 * so it never competes with target tracking on a fleet that runs. A gap in the group's metrics counts
 * as 0 (FILL): towards adding a node, never towards lowering one. Missing queue data (an idle queue
 * whose metrics paused) is not breaching. Tagged for the stack, named after the group: `fleet down`
 * deletes it.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-actions.html
 */
export function scaleFromZeroAlarm(o: { stack: string; groupName: string; queueName: string; policyArn: string }): Cw.PutMetricAlarmCommandInput {
  const name = zeroAlarmName(o.groupName);
  return {
    AlarmName: name,
    AlarmDescription: `fluxer: one node for ${o.groupName} when jobs wait in ${o.queueName} and the fleet is at 0 (docs/fleet.md, "Scale from zero")`,
    ActionsEnabled: true,
    AlarmActions: [o.policyArn],
    Metrics: [
      { Id: 'visible', MetricStat: { Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: o.queueName }] }, Period: 60, Stat: 'Maximum' }, ReturnData: false },
      { Id: 'desired', MetricStat: { Metric: { Namespace: 'AWS/AutoScaling', MetricName: 'GroupDesiredCapacity', Dimensions: [{ Name: 'AutoScalingGroupName', Value: o.groupName }] }, Period: 60, Stat: 'Maximum' }, ReturnData: false },
      { Id: 'waiting', Expression: ZERO_ALARM_EXPRESSION, Label: 'Jobs waiting while the fleet is at 0', ReturnData: true },
    ],
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 0,
    EvaluationPeriods: 1,
    DatapointsToAlarm: 1,
    TreatMissingData: 'notBreaching',
    Tags: fluxerTags(o.stack, 'fleet-alarm', name),
  };
}

/** The group's ARN before AWS has given it one (its id part is a wildcard): for plans and dry runs. */
export function groupArnPattern(partition: string, region: string, account: string, groupName: string): string {
  return `arn:${partition}:autoscaling:${region}:${account}:autoScalingGroup:*:autoScalingGroupName/${groupName}`;
}

/**
 * What a node may do to its own group, and to no other: protect itself while busy, answer lifecycle
 * hooks, leave (terminate itself, decrementing the desired capacity), stop the fleet after failed boots.
 * Resource: the group's ARN; the read-only Describe calls take only "*".
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/control-access-using-iam.html
 */
export function nodeFleetPolicy(groupArn: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OwnFleetOnly',
        Effect: 'Allow',
        // Protection while busy, the termination hook, leaving when idle; the breaker's stop (min and
        // desired 0, the fluxer:breaker tag saying why).
        Action: ['autoscaling:SetInstanceProtection', 'autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat', 'autoscaling:TerminateInstanceInAutoScalingGroup', 'autoscaling:UpdateAutoScalingGroup', 'autoscaling:SetDesiredCapacity', 'autoscaling:CreateOrUpdateTags', 'autoscaling:SuspendProcesses'],
        Resource: groupArn,
      },
      {
        // Auto Scaling's Describe calls support no resource-level permissions: "*" is the only Resource they take.
        Sid: 'DescribeFleet',
        Effect: 'Allow',
        Action: ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeAutoScalingInstances', 'autoscaling:DescribeLifecycleHooks'],
        Resource: '*',
      },
    ],
  };
}
