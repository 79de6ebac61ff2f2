// Spot placement scores: EC2's 1-10 estimate, per AZ, of how likely a request of `targetCapacity`
// instances of these types is to succeed now. A recommendation, not a promise: it breaks near-ties in
// price, and a launch goes on without it when the account may not ask.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetSpotPlacementScores.html
import type { Ec2Port } from '../../aws/ec2.js';
import { awsErrorName } from '../../aws/errors.js';

export type PlacementPort = Pick<Ec2Port, 'getSpotPlacementScores'>;

export interface PlacementScores {
  /** Score by AZ id (use1-az1, …), for the set of types asked about together. */
  byAzId: Map<string, number>;
  /** Why there are no scores, when there are none (the account may not ask, the call failed). */
  unavailable?: string;
}

type TypeNames = NonNullable<Parameters<Ec2Port['getSpotPlacementScores']>[0]['InstanceTypes']>;

export async function placementScores(ec2: PlacementPort, region: string, types: readonly string[], targetCapacity: number): Promise<PlacementScores> {
  const byAzId = new Map<string, number>();
  try {
    let token: string | undefined;
    do {
      const page = await ec2.getSpotPlacementScores({
        InstanceTypes: [...types] as TypeNames,
        TargetCapacity: Math.max(1, targetCapacity),
        TargetCapacityUnitType: 'units',
        SingleAvailabilityZone: true,
        RegionNames: [region],
        ...(token ? { NextToken: token } : {}),
      });
      for (const s of page.SpotPlacementScores ?? []) {
        if (s.AvailabilityZoneId && s.Score !== undefined && (!s.Region || s.Region === region)) byAzId.set(s.AvailabilityZoneId, s.Score);
      }
      token = page.NextToken || undefined;
    } while (token);
  } catch (err) {
    return { byAzId, unavailable: `${awsErrorName(err) || 'Error'}: ${(err as Error).message}` };
  }
  return { byAzId };
}
