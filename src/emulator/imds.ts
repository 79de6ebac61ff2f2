// Each local node's instance metadata service (IMDSv2), served at `<emulator>/_imds/<instanceId>` — the
// node's runtime gets that URL as its FLUXER_IMDS_URL, so every node has its own, as every EC2 instance
// has its own 169.254.169.254. Answers come from the node's registration (src/lib/local-nodes.ts) and
// its spot notice file (`fluxer local interrupt`).
//
// As on an instance launched with HttpTokens=required (fluxer's launch spec):
//   PUT  /latest/api/token  with X-aws-ec2-metadata-token-ttl-seconds (1–21600) → a token; without the
//        header 400 (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html)
//   GET  without a valid X-aws-ec2-metadata-token → 401
//   GET  /latest/meta-data/{instance-id, instance-type, ami-id, instance-life-cycle, placement/availability-zone,
//        placement/availability-zone-id, placement/region}
//        (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-categories.html)
//   GET  /latest/meta-data/spot/instance-action → {"action": "terminate", "time": "…Z"}, 404 until a notice
//        (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html)
//   GET  /latest/meta-data/events/recommendations/rebalance → 404 (no rebalance recommendations here)
//   GET  /latest/meta-data/autoscaling/target-lifecycle-state → InService for a node of an Auto Scaling group
//        (its registration's env has FLUXER_ASG_NAME), Terminated while a termination hook holds it
//        (lifecycle-hooks.ts); 404 for an instance in no group
//        (https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html)
//   GET  /latest/dynamic/instance-identity/document → {instanceId, instanceType, imageId, availabilityZone,
//        region, pendingTime, accountId, architecture, privateIp, version}
//        (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-identity-documents.html)
// A node that is not registered (or no longer) answers 404 to everything: its metadata is gone with it.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readRegistration, readSpotNotice, readTargetLifecycleState, type NodeRegistration } from '../lib/local-nodes.js';

export const IMDS_PATH = '/_imds/';
const MAX_TTL_SECONDS = 21_600;
const ACCOUNT_ID = '123456789012';

export interface ImdsService {
  /** Answers a request under /_imds/ (true), or leaves it (false). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export function imdsService(nodesDir: string, now: () => number = Date.now): ImdsService {
  // token → {instance, expiry}: a token is good only for the node it was issued by, as each instance's IMDS is its own.
  const tokens = new Map<string, { instanceId: string; expiresAt: number }>();
  return {
    handle(req, res) {
      const url = req.url ?? '';
      if (!url.startsWith(IMDS_PATH)) return false;
      const rest = url.slice(IMDS_PATH.length).split('?')[0]!;
      const slash = rest.indexOf('/');
      const instanceId = slash < 0 ? rest : rest.slice(0, slash);
      const path = slash < 0 ? '/' : rest.slice(slash);
      const reply = (code: number, body = '', type = 'text/plain') => {
        res.writeHead(code, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
        return true;
      };
      let reg: NodeRegistration | undefined;
      try {
        reg = readRegistration(nodesDir, instanceId);
      } catch {
        reg = undefined;
      }
      if (!reg) return reply(404);
      if (req.method === 'PUT') {
        const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
        if (path !== '/latest/api/token' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return reply(400);
        const token = randomBytes(24).toString('base64url');
        tokens.set(token, { instanceId, expiresAt: now() + ttl * 1000 });
        return reply(200, token);
      }
      if (req.method !== 'GET') return reply(405);
      const token = tokens.get(String(req.headers['x-aws-ec2-metadata-token'] ?? ''));
      if (!token || token.instanceId !== instanceId || token.expiresAt < now()) return reply(401);
      const value = metadata(reg, path, nodesDir);
      if (value === undefined) return reply(404);
      return reply(200, value.body, value.type);
    },
  };
}

function metadata(reg: NodeRegistration, path: string, nodesDir: string): { body: string; type?: string } | undefined {
  const region = reg.region;
  if (path === '/latest/dynamic/instance-identity/document') {
    const doc = {
      accountId: ACCOUNT_ID,
      architecture: 'x86_64',
      availabilityZone: reg.az,
      imageId: reg.imageId ?? null,
      instanceId: reg.instanceId,
      instanceType: reg.instanceType,
      pendingTime: reg.launchTime.replace(/\.\d{3}Z$/, 'Z'),
      privateIp: '127.0.0.1',
      region,
      version: '2017-09-30',
    };
    return { body: JSON.stringify(doc, null, 2), type: 'application/json' };
  }
  const meta = path.startsWith('/latest/meta-data/') ? path.slice('/latest/meta-data/'.length) : undefined;
  if (meta === undefined) return undefined;
  if (meta === 'spot/instance-action') {
    const notice = readSpotNotice(nodesDir, reg.instanceId);
    return notice ? { body: JSON.stringify({ action: notice.action, time: notice.time }), type: 'application/json' } : undefined;
  }
  if (meta === 'autoscaling/target-lifecycle-state') {
    const state = readTargetLifecycleState(nodesDir, reg);
    return state ? { body: state } : undefined;
  }
  const values: Record<string, string | undefined> = {
    'instance-id': reg.instanceId,
    'instance-type': reg.instanceType,
    'ami-id': reg.imageId,
    'instance-life-cycle': reg.lifecycle,
    'placement/availability-zone': reg.az,
    'placement/availability-zone-id': reg.azId,
    'placement/region': region,
  };
  const v = values[meta];
  return v === undefined ? undefined : { body: v };
}
