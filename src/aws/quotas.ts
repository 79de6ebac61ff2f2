// Service Quotas: the spot vCPU quotas that decide how many GPU nodes may run.
import type * as Sdk from '@aws-sdk/client-service-quotas';

export interface QuotasPort {
  getServiceQuota(input: Sdk.GetServiceQuotaCommandInput): Promise<Sdk.GetServiceQuotaCommandOutput>;
  /** AWS's default value, for a quota with no applied value in the account. */
  getAwsDefaultServiceQuota(input: Sdk.GetAWSDefaultServiceQuotaCommandInput): Promise<Sdk.GetAWSDefaultServiceQuotaCommandOutput>;
}

export function createQuotasPort(client: Sdk.ServiceQuotasClient, sdk: typeof Sdk): QuotasPort {
  return {
    getServiceQuota: (input) => client.send(new sdk.GetServiceQuotaCommand(input)),
    getAwsDefaultServiceQuota: (input) => client.send(new sdk.GetAWSDefaultServiceQuotaCommand(input)),
  };
}
