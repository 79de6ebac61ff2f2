// IAM: the instance profile the GPU nodes run as. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-iam';

export interface IamPort {
  getInstanceProfile(input: Sdk.GetInstanceProfileCommandInput): Promise<Sdk.GetInstanceProfileCommandOutput>;
}

export function createIamPort(client: Sdk.IAMClient, sdk: typeof Sdk): IamPort {
  return {
    getInstanceProfile: (input) => client.send(new sdk.GetInstanceProfileCommand(input)),
  };
}
