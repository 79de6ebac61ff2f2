// Cost Explorer: the billed truth, 12-24 h late, for `fluxer cost report --reconcile`. Only the call
// fluxer makes. Each request costs $0.01 (https://aws.amazon.com/aws-cost-management/aws-cost-explorer/pricing/).
import type * as Sdk from '@aws-sdk/client-cost-explorer';

export interface CePort {
  getCostAndUsage(input: Sdk.GetCostAndUsageCommandInput): Promise<Sdk.GetCostAndUsageCommandOutput>;
}

export function createCePort(client: Sdk.CostExplorerClient, sdk: typeof Sdk): CePort {
  return {
    getCostAndUsage: (input) => client.send(new sdk.GetCostAndUsageCommand(input)),
  };
}
