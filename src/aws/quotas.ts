// Service Quotas: the spot vCPU quotas that decide how many GPU nodes may run.
import type * as Sdk from '@aws-sdk/client-service-quotas';

export interface QuotasPort {
  getServiceQuota(input: Sdk.GetServiceQuotaCommandInput): Promise<Sdk.GetServiceQuotaCommandOutput>;
}

export function createQuotasPort(client: Sdk.ServiceQuotasClient, sdk: typeof Sdk): QuotasPort {
  return {
    getServiceQuota: (input) => client.send(new sdk.GetServiceQuotaCommand(input)),
  };
}
