// An IMDSv2 stand-in for one emulated node, as gpu-runtime/tests/standins.py serves the Python
// tests: a token from `PUT /latest/api/token`, then metadata GETs with it (401 without one, as on
// an instance launched with HttpTokens=required). A spot interruption notice appears at
// `spot/instance-action` as `{"action": "terminate", "time": "…Z"}`, 404 until issued
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImdsStandin {
  url: string;
  /** Issues a spot interruption notice `seconds` from now (the 2-minute warning, shortened). */
  noticeIn(seconds: number, nowMs: number): void;
  stop(): Promise<void>;
}

export async function startImdsStandin(node: { instanceId: string; instanceType?: string; az?: string }): Promise<ImdsStandin> {
  const tokens = new Set<string>();
  let action: string | undefined;
  const server = createServer((req, res) => {
    const reply = (code: number, body = '') => res.writeHead(code, { 'content-length': String(Buffer.byteLength(body)) }).end(body);
    if (req.method === 'PUT') {
      if (req.url !== '/latest/api/token' || !req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return reply(400);
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      return reply(200, token);
    }
    if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token'] ?? ''))) return reply(401);
    const path = (req.url ?? '').replace('/latest/meta-data/', '');
    const values: Record<string, string | undefined> = {
      'instance-id': node.instanceId,
      'instance-type': node.instanceType ?? 'g5.xlarge',
      'placement/availability-zone': node.az ?? 'us-east-1a',
      'spot/instance-action': action,
    };
    const value = values[path];
    return value === undefined ? reply(404) : reply(200, value);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    noticeIn(seconds, nowMs) {
      const time = new Date(nowMs + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      action = JSON.stringify({ action: 'terminate', time });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
