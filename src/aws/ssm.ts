// SSM: secrets by name (Parameter Store). Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-ssm';

export interface SsmPort {
  getParameter(input: Sdk.GetParameterCommandInput): Promise<Sdk.GetParameterCommandOutput>;
  /** The stack's promoted runtime release (`/fluxer/<stack>/runtime-release`). */
  putParameter(input: Sdk.PutParameterCommandInput): Promise<Sdk.PutParameterCommandOutput>;
}

export function createSsmPort(client: Sdk.SSMClient, sdk: typeof Sdk): SsmPort {
  return {
    getParameter: (input) => client.send(new sdk.GetParameterCommand(input)),
    putParameter: (input) => client.send(new sdk.PutParameterCommand(input)),
  };
}
