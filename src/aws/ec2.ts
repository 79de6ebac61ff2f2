// EC2: instance types, AMIs. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-ec2';

export interface Ec2Port {
  describeInstanceTypes(input: Sdk.DescribeInstanceTypesCommandInput): Promise<Sdk.DescribeInstanceTypesCommandOutput>;
  describeImages(input: Sdk.DescribeImagesCommandInput): Promise<Sdk.DescribeImagesCommandOutput>;
}

export function createEc2Port(client: Sdk.EC2Client, sdk: typeof Sdk): Ec2Port {
  return {
    describeInstanceTypes: (input) => client.send(new sdk.DescribeInstanceTypesCommand(input)),
    describeImages: (input) => client.send(new sdk.DescribeImagesCommand(input)),
  };
}
