#!/usr/bin/env node
// The baseline bench/cost-report.mjs times `fluxer cost report` against: the least a script must do to
// cost the fleet from its records, list <prefix>nodes/ and read every record (16 in flight, as fluxer
// reads them), with the bare SDK and nothing else (no prices, no figures).
// Usage: node bench/cost-report-baseline.mjs BUCKET PREFIX   (AWS_ENDPOINT_URL and credentials from the environment)
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const [bucket, prefix] = process.argv.slice(2);
const s3 = new S3Client({ region: 'us-east-1', endpoint: process.env.AWS_ENDPOINT_URL, forcePathStyle: true, maxAttempts: 1 });
const keys = [];
let token;
do {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}nodes/`, ContinuationToken: token }));
  for (const o of page.Contents ?? []) keys.push(o.Key);
  token = page.IsTruncated ? page.NextContinuationToken : undefined;
} while (token);
let next = 0;
let images = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < keys.length) {
      const key = keys[next++];
      const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      images += JSON.parse(await o.Body.transformToString()).imagesDone;
    }
  }),
);
console.log(JSON.stringify({ records: keys.length, images }));
