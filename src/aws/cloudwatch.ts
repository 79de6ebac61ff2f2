// CloudWatch: the alarms fluxer made for the stack's fleet (the scale-from-zero backstop, made by
// `fleet up`; found by name and tags, deleted with the fleet). Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-cloudwatch';

export interface CloudWatchPort {
  describeAlarms(input: Sdk.DescribeAlarmsCommandInput): Promise<Sdk.DescribeAlarmsCommandOutput>;
  listTagsForResource(input: Sdk.ListTagsForResourceCommandInput): Promise<Sdk.ListTagsForResourceCommandOutput>;
  deleteAlarms(input: Sdk.DeleteAlarmsCommandInput): Promise<Sdk.DeleteAlarmsCommandOutput>;
  putMetricAlarm(input: Sdk.PutMetricAlarmCommandInput): Promise<Sdk.PutMetricAlarmCommandOutput>;
}

export function createCloudWatchPort(client: Sdk.CloudWatchClient, sdk: typeof Sdk): CloudWatchPort {
  return {
    describeAlarms: (input) => client.send(new sdk.DescribeAlarmsCommand(input)),
    listTagsForResource: (input) => client.send(new sdk.ListTagsForResourceCommand(input)),
    deleteAlarms: (input) => client.send(new sdk.DeleteAlarmsCommand(input)),
    putMetricAlarm: (input) => client.send(new sdk.PutMetricAlarmCommand(input)),
  };
}
