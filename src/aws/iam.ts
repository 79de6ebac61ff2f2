// IAM: the role and instance profile the GPU nodes run as. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-iam';

export interface IamPort {
  getInstanceProfile(input: Sdk.GetInstanceProfileCommandInput): Promise<Sdk.GetInstanceProfileCommandOutput>;
  createInstanceProfile(input: Sdk.CreateInstanceProfileCommandInput): Promise<Sdk.CreateInstanceProfileCommandOutput>;
  addRoleToInstanceProfile(input: Sdk.AddRoleToInstanceProfileCommandInput): Promise<Sdk.AddRoleToInstanceProfileCommandOutput>;
  tagInstanceProfile(input: Sdk.TagInstanceProfileCommandInput): Promise<Sdk.TagInstanceProfileCommandOutput>;
  getRole(input: Sdk.GetRoleCommandInput): Promise<Sdk.GetRoleCommandOutput>;
  createRole(input: Sdk.CreateRoleCommandInput): Promise<Sdk.CreateRoleCommandOutput>;
  updateAssumeRolePolicy(input: Sdk.UpdateAssumeRolePolicyCommandInput): Promise<Sdk.UpdateAssumeRolePolicyCommandOutput>;
  tagRole(input: Sdk.TagRoleCommandInput): Promise<Sdk.TagRoleCommandOutput>;
  listAttachedRolePolicies(input: Sdk.ListAttachedRolePoliciesCommandInput): Promise<Sdk.ListAttachedRolePoliciesCommandOutput>;
  attachRolePolicy(input: Sdk.AttachRolePolicyCommandInput): Promise<Sdk.AttachRolePolicyCommandOutput>;
  getRolePolicy(input: Sdk.GetRolePolicyCommandInput): Promise<Sdk.GetRolePolicyCommandOutput>;
  putRolePolicy(input: Sdk.PutRolePolicyCommandInput): Promise<Sdk.PutRolePolicyCommandOutput>;
  /** `fleet down`: the node role's fleet policy goes with the fleet. */
  deleteRolePolicy(input: Sdk.DeleteRolePolicyCommandInput): Promise<Sdk.DeleteRolePolicyCommandOutput>;
}

export function createIamPort(client: Sdk.IAMClient, sdk: typeof Sdk): IamPort {
  return {
    getInstanceProfile: (input) => client.send(new sdk.GetInstanceProfileCommand(input)),
    createInstanceProfile: (input) => client.send(new sdk.CreateInstanceProfileCommand(input)),
    addRoleToInstanceProfile: (input) => client.send(new sdk.AddRoleToInstanceProfileCommand(input)),
    tagInstanceProfile: (input) => client.send(new sdk.TagInstanceProfileCommand(input)),
    getRole: (input) => client.send(new sdk.GetRoleCommand(input)),
    createRole: (input) => client.send(new sdk.CreateRoleCommand(input)),
    updateAssumeRolePolicy: (input) => client.send(new sdk.UpdateAssumeRolePolicyCommand(input)),
    tagRole: (input) => client.send(new sdk.TagRoleCommand(input)),
    listAttachedRolePolicies: (input) => client.send(new sdk.ListAttachedRolePoliciesCommand(input)),
    attachRolePolicy: (input) => client.send(new sdk.AttachRolePolicyCommand(input)),
    getRolePolicy: (input) => client.send(new sdk.GetRolePolicyCommand(input)),
    putRolePolicy: (input) => client.send(new sdk.PutRolePolicyCommand(input)),
    deleteRolePolicy: (input) => client.send(new sdk.DeleteRolePolicyCommand(input)),
  };
}
