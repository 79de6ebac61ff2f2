// EC2: instance types, AMIs, the nodes' VPC and security group, spot launches. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-ec2';

export interface Ec2Port {
  describeInstanceTypes(input: Sdk.DescribeInstanceTypesCommandInput): Promise<Sdk.DescribeInstanceTypesCommandOutput>;
  describeImages(input: Sdk.DescribeImagesCommandInput): Promise<Sdk.DescribeImagesCommandOutput>;
  describeInstances(input: Sdk.DescribeInstancesCommandInput): Promise<Sdk.DescribeInstancesCommandOutput>;
  describeInstanceAttribute(input: Sdk.DescribeInstanceAttributeCommandInput): Promise<Sdk.DescribeInstanceAttributeCommandOutput>;
  terminateInstances(input: Sdk.TerminateInstancesCommandInput): Promise<Sdk.TerminateInstancesCommandOutput>;
  /** The local node agent only: a local node whose runtime process is gone shows its instance stopped. */
  stopInstances(input: Sdk.StopInstancesCommandInput): Promise<Sdk.StopInstancesCommandOutput>;
  describeVpcs(input: Sdk.DescribeVpcsCommandInput): Promise<Sdk.DescribeVpcsCommandOutput>;
  describeSubnets(input: Sdk.DescribeSubnetsCommandInput): Promise<Sdk.DescribeSubnetsCommandOutput>;
  describeSecurityGroups(input: Sdk.DescribeSecurityGroupsCommandInput): Promise<Sdk.DescribeSecurityGroupsCommandOutput>;
  createSecurityGroup(input: Sdk.CreateSecurityGroupCommandInput): Promise<Sdk.CreateSecurityGroupCommandOutput>;
  revokeSecurityGroupIngress(input: Sdk.RevokeSecurityGroupIngressCommandInput): Promise<Sdk.RevokeSecurityGroupIngressCommandOutput>;
  createTags(input: Sdk.CreateTagsCommandInput): Promise<Sdk.CreateTagsCommandOutput>;
  describeInstanceTypeOfferings(input: Sdk.DescribeInstanceTypeOfferingsCommandInput): Promise<Sdk.DescribeInstanceTypeOfferingsCommandOutput>;
  getSpotPlacementScores(input: Sdk.GetSpotPlacementScoresCommandInput): Promise<Sdk.GetSpotPlacementScoresCommandOutput>;
  describeSpotPriceHistory(input: Sdk.DescribeSpotPriceHistoryCommandInput): Promise<Sdk.DescribeSpotPriceHistoryCommandOutput>;
  /** `fluxer spot launch`: one call per pool, with a ClientToken. */
  runInstances(input: Sdk.RunInstancesCommandInput): Promise<Sdk.RunInstancesCommandOutput>;
  describeAvailabilityZones(input: Sdk.DescribeAvailabilityZonesCommandInput): Promise<Sdk.DescribeAvailabilityZonesCommandOutput>;
  /** `fluxer ami prune`: with DeleteAssociatedSnapshots, then the snapshots are checked and any left deleted. */
  deregisterImage(input: Sdk.DeregisterImageCommandInput): Promise<Sdk.DeregisterImageCommandOutput>;
  deleteSnapshot(input: Sdk.DeleteSnapshotCommandInput): Promise<Sdk.DeleteSnapshotCommandOutput>;
  /** Also `fluxer cost report`: the stack's AMI snapshots, for their storage cost. */
  describeSnapshots(input: Sdk.DescribeSnapshotsCommandInput): Promise<Sdk.DescribeSnapshotsCommandOutput>;
  /** `ami list` / `ami prune`: which AMI the stack's launch templates (the fleet's) launch from. */
  describeLaunchTemplates(input: Sdk.DescribeLaunchTemplatesCommandInput): Promise<Sdk.DescribeLaunchTemplatesCommandOutput>;
  describeLaunchTemplateVersions(input: Sdk.DescribeLaunchTemplateVersionsCommandInput): Promise<Sdk.DescribeLaunchTemplateVersionsCommandOutput>;
  // Images (`fluxer ami …`): CreateImage takes no ClientToken, so a lost answer is found again by name.
  createImage(input: Sdk.CreateImageCommandInput): Promise<Sdk.CreateImageCommandOutput>;
  /** The fleet's launch template (`fleet up` makes it, `fleet roll` versions it, `fleet down` deletes it). */
  createLaunchTemplate(input: Sdk.CreateLaunchTemplateCommandInput): Promise<Sdk.CreateLaunchTemplateCommandOutput>;
  createLaunchTemplateVersion(input: Sdk.CreateLaunchTemplateVersionCommandInput): Promise<Sdk.CreateLaunchTemplateVersionCommandOutput>;
  /** A new version becomes the default: what the group ($Default) launches from then on. */
  modifyLaunchTemplate(input: Sdk.ModifyLaunchTemplateCommandInput): Promise<Sdk.ModifyLaunchTemplateCommandOutput>;
  deleteLaunchTemplate(input: Sdk.DeleteLaunchTemplateCommandInput): Promise<Sdk.DeleteLaunchTemplateCommandOutput>;
}

export function createEc2Port(client: Sdk.EC2Client, sdk: typeof Sdk): Ec2Port {
  return {
    describeInstanceTypes: (input) => client.send(new sdk.DescribeInstanceTypesCommand(input)),
    describeImages: (input) => client.send(new sdk.DescribeImagesCommand(input)),
    describeInstances: (input) => client.send(new sdk.DescribeInstancesCommand(input)),
    describeInstanceAttribute: (input) => client.send(new sdk.DescribeInstanceAttributeCommand(input)),
    terminateInstances: (input) => client.send(new sdk.TerminateInstancesCommand(input)),
    stopInstances: (input) => client.send(new sdk.StopInstancesCommand(input)),
    describeVpcs: (input) => client.send(new sdk.DescribeVpcsCommand(input)),
    describeSubnets: (input) => client.send(new sdk.DescribeSubnetsCommand(input)),
    describeSecurityGroups: (input) => client.send(new sdk.DescribeSecurityGroupsCommand(input)),
    createSecurityGroup: (input) => client.send(new sdk.CreateSecurityGroupCommand(input)),
    revokeSecurityGroupIngress: (input) => client.send(new sdk.RevokeSecurityGroupIngressCommand(input)),
    createTags: (input) => client.send(new sdk.CreateTagsCommand(input)),
    describeInstanceTypeOfferings: (input) => client.send(new sdk.DescribeInstanceTypeOfferingsCommand(input)),
    getSpotPlacementScores: (input) => client.send(new sdk.GetSpotPlacementScoresCommand(input)),
    describeSpotPriceHistory: (input) => client.send(new sdk.DescribeSpotPriceHistoryCommand(input)),
    runInstances: (input) => client.send(new sdk.RunInstancesCommand(input)),
    describeAvailabilityZones: (input) => client.send(new sdk.DescribeAvailabilityZonesCommand(input)),
    deregisterImage: (input) => client.send(new sdk.DeregisterImageCommand(input)),
    deleteSnapshot: (input) => client.send(new sdk.DeleteSnapshotCommand(input)),
    describeSnapshots: (input) => client.send(new sdk.DescribeSnapshotsCommand(input)),
    describeLaunchTemplates: (input) => client.send(new sdk.DescribeLaunchTemplatesCommand(input)),
    describeLaunchTemplateVersions: (input) => client.send(new sdk.DescribeLaunchTemplateVersionsCommand(input)),
    createImage: (input) => client.send(new sdk.CreateImageCommand(input)),
    createLaunchTemplate: (input) => client.send(new sdk.CreateLaunchTemplateCommand(input)),
    createLaunchTemplateVersion: (input) => client.send(new sdk.CreateLaunchTemplateVersionCommand(input)),
    modifyLaunchTemplate: (input) => client.send(new sdk.ModifyLaunchTemplateCommand(input)),
    deleteLaunchTemplate: (input) => client.send(new sdk.DeleteLaunchTemplateCommand(input)),
  };
}
