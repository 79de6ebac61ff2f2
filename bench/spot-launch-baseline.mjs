#!/usr/bin/env node
// The baseline of bench/spot-launch.mjs: a bare AWS SDK script making the one call a hand-rolled
// launcher makes — RunInstances of one spot node with the same launch specification `fluxer spot
// launch` sends (AMI, type, subnet, profile, group, IMDSv2, encrypted root, user data, tags) — with
// no pool ranking, no quota check, no ClientToken bookkeeping and no launch record.
// Usage: node bench/spot-launch-baseline.mjs ENDPOINT SPEC_JSON_FILE
import { readFileSync } from 'node:fs';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';

const [endpoint, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const ec2 = new EC2Client({ region: 'us-east-1', endpoint, maxAttempts: 1 });
const out = await ec2.send(new RunInstancesCommand({ ...spec, MinCount: 1, MaxCount: 1, UserData: Buffer.from(spec.UserData ?? '').toString('base64') }));
process.stdout.write(`${JSON.stringify({ instances: out.Instances.map((i) => ({ instanceId: i.InstanceId, state: i.State?.Name })) })}\n`);
