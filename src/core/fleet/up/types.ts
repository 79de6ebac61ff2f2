// What `fleet up`'s plan steps share: the resources they report, the ports they call, the input they
// are given, and a step (a resource with the write that makes it so, when it differs).
import type * as Ec2 from '@aws-sdk/client-ec2';
import type { AutoScalingPort } from '../../../aws/autoscaling.js';
import type { CloudWatchPort } from '../../../aws/cloudwatch.js';
import type { Ec2Port } from '../../../aws/ec2.js';
import type { IamPort } from '../../../aws/iam.js';
import type { SetupAction, SetupChange } from '../../setup.js';
import type { FleetTemplate } from '../read.js';

export type FleetResourceType = 'launch-template' | 'auto-scaling-group' | 'scaling-policy' | 'alarm' | 'node-role-policy';

export interface FleetResource {
  type: FleetResourceType;
  name: string;
  action: SetupAction;
  changes: SetupChange[];
  id?: string;
  arn?: string;
}

export interface FleetUpPorts {
  ec2: Pick<Ec2Port, 'createLaunchTemplate' | 'createLaunchTemplateVersion' | 'modifyLaunchTemplate'>;
  autoscaling: AutoScalingPort;
  iam: Pick<IamPort, 'getRole' | 'getRolePolicy' | 'putRolePolicy'>;
  /** In the group's region: the backstop alarm watches the queue there and acts on the group. */
  cloudwatch: Pick<CloudWatchPort, 'describeAlarms' | 'listTagsForResource' | 'putMetricAlarm'>;
}

export interface FleetUpInput {
  stack: string;
  region: string;
  account: string;
  partition: string;
  groupName: string;
  templateName: string;
  /** The template as it is (undefined: none yet), read before the desired data was rendered. */
  template: FleetTemplate | undefined;
  desiredTemplate: Ec2.RequestLaunchTemplateData;
  instanceTypes: readonly string[];
  subnetIds: readonly string[];
  maxPrice: number | undefined;
  queueName: string;
  roleName: string;
  min?: number;
  max?: number;
  jobsPerNode?: number;
}

export type Step = { resource: FleetResource; write?: () => Promise<void> };
