// Auto Scaling: the stack's fleet (one group, its target-tracking policy, instance refreshes). Only the
// calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-auto-scaling';

export interface AutoScalingPort {
  describeAutoScalingGroups(input: Sdk.DescribeAutoScalingGroupsCommandInput): Promise<Sdk.DescribeAutoScalingGroupsCommandOutput>;
  createAutoScalingGroup(input: Sdk.CreateAutoScalingGroupCommandInput): Promise<Sdk.CreateAutoScalingGroupCommandOutput>;
  updateAutoScalingGroup(input: Sdk.UpdateAutoScalingGroupCommandInput): Promise<Sdk.UpdateAutoScalingGroupCommandOutput>;
  deleteAutoScalingGroup(input: Sdk.DeleteAutoScalingGroupCommandInput): Promise<Sdk.DeleteAutoScalingGroupCommandOutput>;
  createOrUpdateTags(input: Sdk.CreateOrUpdateTagsCommandInput): Promise<Sdk.CreateOrUpdateTagsCommandOutput>;
  deleteTags(input: Sdk.DeleteTagsCommandInput): Promise<Sdk.DeleteTagsCommandOutput>;
  /** `fleet scale` resuming a fleet its breaker stopped: the group's alarm actions again. */
  resumeProcesses(input: Sdk.ResumeProcessesCommandInput): Promise<Sdk.ResumeProcessesCommandOutput>;
  enableMetricsCollection(input: Sdk.EnableMetricsCollectionCommandInput): Promise<Sdk.EnableMetricsCollectionCommandOutput>;
  setDesiredCapacity(input: Sdk.SetDesiredCapacityCommandInput): Promise<Sdk.SetDesiredCapacityCommandOutput>;
  /** `fleet roll` holds the old nodes until each has drained; `fleet down` lets them go. */
  setInstanceProtection(input: Sdk.SetInstanceProtectionCommandInput): Promise<Sdk.SetInstanceProtectionCommandOutput>;
  putScalingPolicy(input: Sdk.PutScalingPolicyCommandInput): Promise<Sdk.PutScalingPolicyCommandOutput>;
  describePolicies(input: Sdk.DescribePoliciesCommandInput): Promise<Sdk.DescribePoliciesCommandOutput>;
  deletePolicy(input: Sdk.DeletePolicyCommandInput): Promise<Sdk.DeletePolicyCommandOutput>;
  describeScalingActivities(input: Sdk.DescribeScalingActivitiesCommandInput): Promise<Sdk.DescribeScalingActivitiesCommandOutput>;
  startInstanceRefresh(input: Sdk.StartInstanceRefreshCommandInput): Promise<Sdk.StartInstanceRefreshCommandOutput>;
  describeInstanceRefreshes(input: Sdk.DescribeInstanceRefreshesCommandInput): Promise<Sdk.DescribeInstanceRefreshesCommandOutput>;
  /** The termination hook a node being removed answers itself (docs/fleet.md, "The node protocol"). */
  describeLifecycleHooks(input: Sdk.DescribeLifecycleHooksCommandInput): Promise<Sdk.DescribeLifecycleHooksCommandOutput>;
  putLifecycleHook(input: Sdk.PutLifecycleHookCommandInput): Promise<Sdk.PutLifecycleHookCommandOutput>;
}

export function createAutoScalingPort(client: Sdk.AutoScalingClient, sdk: typeof Sdk): AutoScalingPort {
  return {
    describeAutoScalingGroups: (input) => client.send(new sdk.DescribeAutoScalingGroupsCommand(input)),
    createAutoScalingGroup: (input) => client.send(new sdk.CreateAutoScalingGroupCommand(input)),
    updateAutoScalingGroup: (input) => client.send(new sdk.UpdateAutoScalingGroupCommand(input)),
    deleteAutoScalingGroup: (input) => client.send(new sdk.DeleteAutoScalingGroupCommand(input)),
    createOrUpdateTags: (input) => client.send(new sdk.CreateOrUpdateTagsCommand(input)),
    deleteTags: (input) => client.send(new sdk.DeleteTagsCommand(input)),
    resumeProcesses: (input) => client.send(new sdk.ResumeProcessesCommand(input)),
    enableMetricsCollection: (input) => client.send(new sdk.EnableMetricsCollectionCommand(input)),
    setDesiredCapacity: (input) => client.send(new sdk.SetDesiredCapacityCommand(input)),
    setInstanceProtection: (input) => client.send(new sdk.SetInstanceProtectionCommand(input)),
    describeLifecycleHooks: (input) => client.send(new sdk.DescribeLifecycleHooksCommand(input)),
    putLifecycleHook: (input) => client.send(new sdk.PutLifecycleHookCommand(input)),
    putScalingPolicy: (input) => client.send(new sdk.PutScalingPolicyCommand(input)),
    describePolicies: (input) => client.send(new sdk.DescribePoliciesCommand(input)),
    deletePolicy: (input) => client.send(new sdk.DeletePolicyCommand(input)),
    describeScalingActivities: (input) => client.send(new sdk.DescribeScalingActivitiesCommand(input)),
    startInstanceRefresh: (input) => client.send(new sdk.StartInstanceRefreshCommand(input)),
    describeInstanceRefreshes: (input) => client.send(new sdk.DescribeInstanceRefreshesCommand(input)),
  };
}
