#!/usr/bin/env node
// The baseline of bench/spot-list.mjs: a bare AWS SDK script making the calls `fluxer spot list
// --json` makes — DescribeInstances by the stack's tags (paged), one DescribeSpotPriceHistory for the
// types seen, one GetObject per node record (16 at a time) — and printing the same rows, with no CLI
// around it (no config, no command tree, no validation).
// Usage: node bench/spot-list-baseline.mjs ENDPOINT STACK BUCKET PREFIX
import { DescribeInstancesCommand, DescribeSpotPriceHistoryCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

const [endpoint, stack, bucket, prefix] = process.argv.slice(2);
const config = { region: 'us-east-1', endpoint, maxAttempts: 1 };
const ec2 = new EC2Client(config);
const s3 = new S3Client({ ...config, forcePathStyle: true });

const instances = [];
let token;
do {
  const page = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:fluxer:managed', Values: ['true'] },
        { Name: 'tag:fluxer:stack', Values: [stack] },
        { Name: 'tag:fluxer:role', Values: ['gpu-node'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
      MaxResults: 1000,
      NextToken: token,
    }),
  );
  for (const r of page.Reservations ?? []) instances.push(...(r.Instances ?? []));
  token = page.NextToken;
} while (token);

const now = new Date();
const [prices, records] = await Promise.all([
  ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: [...new Set(instances.map((i) => i.InstanceType))], ProductDescriptions: ['Linux/UNIX'], StartTime: now, EndTime: now })),
  (async () => {
    const out = new Map();
    const ids = instances.map((i) => i.InstanceId);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < ids.length) {
          const id = ids[next++];
          try {
            const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}nodes/${id}.json` }));
            out.set(id, JSON.parse(await o.Body.transformToString()));
          } catch {
            /* no record */
          }
        }
      }),
    );
    return out;
  })(),
]);
const price = new Map((prices.SpotPriceHistory ?? []).map((p) => [`${p.InstanceType}\t${p.AvailabilityZone}`, Number(p.SpotPrice)]));
const nodes = instances.map((i) => ({
  instanceId: i.InstanceId,
  instanceType: i.InstanceType,
  az: i.Placement?.AvailabilityZone,
  state: i.State?.Name,
  spotPrice: price.get(`${i.InstanceType}\t${i.Placement?.AvailabilityZone}`) ?? null,
  runtime: records.get(i.InstanceId) ?? null,
}));
process.stdout.write(`${JSON.stringify({ nodes }, null, 2)}\n`);
