// STS: who the caller is. The only call fluxer makes.
import type * as Sdk from '@aws-sdk/client-sts';

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

export interface StsPort {
  getCallerIdentity(): Promise<CallerIdentity>;
}

export function createStsPort(client: Sdk.STSClient, sdk: typeof Sdk): StsPort {
  return {
    async getCallerIdentity() {
      const out = await client.send(new sdk.GetCallerIdentityCommand({}));
      return { account: out.Account ?? '', arn: out.Arn ?? '', userId: out.UserId ?? '' };
    },
  };
}
