// SSM: secrets by name (Parameter Store), the promoted runtime release, and Run Command (the
// `fluxer runtime …` commands drive each node's runtime with AWS-RunShellScript). Only the calls
// fluxer makes.
import type * as Sdk from '@aws-sdk/client-ssm';

export interface SsmPort {
  getParameter(input: Sdk.GetParameterCommandInput): Promise<Sdk.GetParameterCommandOutput>;
  /** The stack's promoted runtime release (`/fluxer/<stack>/runtime-release`). */
  putParameter(input: Sdk.PutParameterCommandInput): Promise<Sdk.PutParameterCommandOutput>;
  /** `fluxer ami default --clear`: the stack's default AMI (`/fluxer/<stack>/ami`). */
  deleteParameter(input: Sdk.DeleteParameterCommandInput): Promise<Sdk.DeleteParameterCommandOutput>;
  /** Whether each node's agent is Online (checked before sending: a ConnectionLost node is not sent to). */
  describeInstanceInformation(input: Sdk.DescribeInstanceInformationCommandInput): Promise<Sdk.DescribeInstanceInformationCommandOutput>;
  /** One command to up to 50 nodes. */
  sendCommand(input: Sdk.SendCommandCommandInput): Promise<Sdk.SendCommandCommandOutput>;
  /** Every node's invocation of one command in one call (paged); Details adds exit codes and output URLs. */
  listCommandInvocations(input: Sdk.ListCommandInvocationsCommandInput): Promise<Sdk.ListCommandInvocationsCommandOutput>;
  /** One node's invocation: the first 24,000 characters of stdout and 8,000 of stderr. */
  getCommandInvocation(input: Sdk.GetCommandInvocationCommandInput): Promise<Sdk.GetCommandInvocationCommandOutput>;
  /** Stops a command on the nodes that did not finish in time. */
  cancelCommand(input: Sdk.CancelCommandCommandInput): Promise<Sdk.CancelCommandCommandOutput>;
}

export function createSsmPort(client: Sdk.SSMClient, sdk: typeof Sdk): SsmPort {
  return {
    getParameter: (input) => client.send(new sdk.GetParameterCommand(input)),
    putParameter: (input) => client.send(new sdk.PutParameterCommand(input)),
    deleteParameter: (input) => client.send(new sdk.DeleteParameterCommand(input)),
    describeInstanceInformation: (input) => client.send(new sdk.DescribeInstanceInformationCommand(input)),
    sendCommand: (input) => client.send(new sdk.SendCommandCommand(input)),
    listCommandInvocations: (input) => client.send(new sdk.ListCommandInvocationsCommand(input)),
    getCommandInvocation: (input) => client.send(new sdk.GetCommandInvocationCommand(input)),
    cancelCommand: (input) => client.send(new sdk.CancelCommandCommand(input)),
  };
}
