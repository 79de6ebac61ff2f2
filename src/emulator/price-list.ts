// Price List product documents (aws_v1 format), as Pricing GetProducts returns them, built from one seeded
// price: the Pricing stand-in (prices.ts) answers with them, and unit tests hand them to the CLI's reader
// (src/core/launch/on-demand.ts) without a server. Pure: kept apart from the stand-in's request handling.
//   https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
import { createHash } from 'node:crypto';

/** One Price List product document (aws_v1 format) as GetProducts returns it, a JSON string. */
export function priceListDocument(o: { region: string; instanceType: string; price: number; operatingSystem?: string; tenancy?: string; preInstalledSw?: string; capacitystatus?: string }): string {
  const attrs = {
    servicecode: 'AmazonEC2',
    servicename: 'Amazon Elastic Compute Cloud',
    instanceType: o.instanceType,
    instanceFamily: 'GPU instance',
    regionCode: o.region,
    location: o.region,
    locationType: 'AWS Region',
    operatingSystem: o.operatingSystem ?? 'Linux',
    tenancy: o.tenancy ?? 'Shared',
    preInstalledSw: o.preInstalledSw ?? 'NA',
    capacitystatus: o.capacitystatus ?? 'Used',
    licenseModel: 'No License required',
    marketoption: 'OnDemand',
    operation: 'RunInstances',
    usagetype: `BoxUsage:${o.instanceType}`,
    currentGeneration: 'Yes',
    processorArchitecture: '64-bit',
  };
  const sku = createHash('sha1').update(JSON.stringify(attrs)).digest('hex').slice(0, 16).toUpperCase();
  const onDemand = `${sku}.JRTCKXETXF`;
  const reserved = `${sku}.4NA7Y494T4`;
  return JSON.stringify({
    product: { productFamily: 'Compute Instance', attributes: attrs, sku },
    serviceCode: 'AmazonEC2',
    terms: {
      OnDemand: {
        [onDemand]: {
          priceDimensions: {
            [`${onDemand}.6YS6EN2CT7`]: {
              unit: 'Hrs', endRange: 'Inf', beginRange: '0', appliesTo: [], rateCode: `${onDemand}.6YS6EN2CT7`,
              description: `$${o.price} per On Demand ${attrs.operatingSystem} ${o.instanceType} Instance Hour`,
              pricePerUnit: { USD: o.price.toFixed(10) },
            },
          },
          sku, effectiveDate: '2026-11-01T00:00:00Z', offerTermCode: 'JRTCKXETXF', termAttributes: {},
        },
      },
      // Real documents carry reserved terms too; a reader must take the OnDemand one.
      Reserved: {
        [reserved]: {
          priceDimensions: { [`${reserved}.6YS6EN2CT7`]: { unit: 'Hrs', endRange: 'Inf', beginRange: '0', appliesTo: [], rateCode: `${reserved}.6YS6EN2CT7`, description: 'Reserved', pricePerUnit: { USD: (o.price * 0.6).toFixed(10) } } },
          sku, effectiveDate: '2026-11-01T00:00:00Z', offerTermCode: '4NA7Y494T4', termAttributes: { LeaseContractLength: '1yr', OfferingClass: 'standard', PurchaseOption: 'No Upfront' },
        },
      },
    },
    version: '20261101000000',
    publicationDate: '2026-11-01T00:00:00Z',
  });
}

/** An EBS storage product (productFamily "Storage") as GetProducts returns it: USD per GB-month. */
export function storagePriceListDocument(o: { region: string; volumeApiName: string; price: number }): string {
  const attrs = { servicecode: 'AmazonEC2', regionCode: o.region, location: o.region, locationType: 'AWS Region', volumeApiName: o.volumeApiName, volumeType: 'General Purpose', storageMedia: 'SSD-backed', usagetype: `EBS:VolumeUsage.${o.volumeApiName}` };
  const sku = createHash('sha1').update(JSON.stringify(attrs)).digest('hex').slice(0, 16).toUpperCase();
  const term = `${sku}.JRTCKXETXF`;
  return JSON.stringify({
    product: { productFamily: 'Storage', attributes: attrs, sku },
    serviceCode: 'AmazonEC2',
    terms: { OnDemand: { [term]: { priceDimensions: { [`${term}.6YS6EN2CT7`]: { unit: 'GB-Mo', endRange: 'Inf', beginRange: '0', appliesTo: [], rateCode: `${term}.6YS6EN2CT7`, description: `$${o.price} per GB-month of ${o.volumeApiName} storage`, pricePerUnit: { USD: o.price.toFixed(10) } } }, sku, effectiveDate: '2026-11-01T00:00:00Z', offerTermCode: 'JRTCKXETXF', termAttributes: {} } } },
    version: '20261101000000',
    publicationDate: '2026-11-01T00:00:00Z',
  });
}
