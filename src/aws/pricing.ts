// Pricing: on-demand prices, the ceiling a spot price is compared with.
import type * as Sdk from '@aws-sdk/client-pricing';

export interface PricingPort {
  getProducts(input: Sdk.GetProductsCommandInput): Promise<Sdk.GetProductsCommandOutput>;
}

export function createPricingPort(client: Sdk.PricingClient, sdk: typeof Sdk): PricingPort {
  return {
    getProducts: (input) => client.send(new sdk.GetProductsCommand(input)),
  };
}
