// The Auto Scaling query protocol as the lifecycle hooks stand-in (lifecycle-hooks.ts) speaks it: its own
// calls to moto (with the caller's Authorization and Host, as the caller's request would go), the reads of
// moto's groups and hooks it needs, passing a request on to moto, and the XML answers it writes itself.
// Apart from lifecycle-hooks.ts so that file holds only what a hook does with the instances it holds.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { StandinRequest, Upstream } from './server.js';

const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

export interface Auth {
  authorization: string;
  host: string | undefined;
}

export interface Hook {
  name: string;
  heartbeatTimeout: number;
}

export const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const send = (res: ServerResponse, status: number, xml: string) => {
  res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(xml), 'x-amzn-RequestId': randomUUID() }).end(xml);
};
export const ok = (res: ServerResponse, action: string, result: string) =>
  send(res, 200, `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`);
export const fail = (res: ServerResponse, code: string, message: string) =>
  send(res, 400, `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);

/** moto's Auto Scaling, through the upstream the server handed the stand-in (set on its first request). */
export function motoAutoScaling(upstream: () => Upstream) {
  const call = async (auth: Auth, params: Record<string, string>): Promise<string> => {
    const body = Buffer.from(new URLSearchParams({ Version: '2011-01-01', ...params }).toString());
    const answer = await upstream()({ method: 'POST', path: '/', headers: { host: auth.host, authorization: auth.authorization, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body });
    const text = answer.body.toString('utf8');
    if (answer.status >= 400) throw new Error(`${params.Action}: ${tag(text, 'Message') ?? answer.status}`);
    return text;
  };

  const terminatingHook = async (auth: Auth, group: string): Promise<Hook | undefined> => {
    const xml = await call(auth, { Action: 'DescribeLifecycleHooks', AutoScalingGroupName: group });
    for (const m of xml.matchAll(/<member>([\s\S]*?)<\/member>/g)) {
      if (tag(m[1]!, 'LifecycleTransition') === 'autoscaling:EC2_INSTANCE_TERMINATING') return { name: tag(m[1]!, 'LifecycleHookName')!, heartbeatTimeout: Number(tag(m[1]!, 'HeartbeatTimeout') ?? 3600) };
    }
    return undefined;
  };

  const groupInstances = async (auth: Auth, group: string): Promise<Array<{ id: string; state: string; protected: boolean }>> => {
    const xml = await call(auth, { Action: 'DescribeAutoScalingGroups', 'AutoScalingGroupNames.member.1': group });
    const block = /<Instances>([\s\S]*?)<\/Instances>/.exec(xml)?.[1] ?? '';
    return [...block.matchAll(/<member>([\s\S]*?)<\/member>/g)].map((m) => ({ id: tag(m[1]!, 'InstanceId')!, state: tag(m[1]!, 'LifecycleState') ?? '', protected: tag(m[1]!, 'ProtectedFromScaleIn') === 'true' }));
  };

  const groupOf = async (auth: Auth, instanceId: string): Promise<string | undefined> => {
    const xml = await call(auth, { Action: 'DescribeAutoScalingInstances', 'InstanceIds.member.1': instanceId });
    return tag(xml, 'AutoScalingGroupName');
  };

  const forward = async (req: StandinRequest, res: ServerResponse, transform?: (xml: string) => string) => {
    const answer = await upstream()({ method: req.method, path: req.path, headers: req.headers, body: req.body });
    const text = answer.body.toString('utf8');
    const out = transform && answer.status < 300 ? transform(text) : text;
    send(res, answer.status, out);
  };

  return { call, terminatingHook, groupInstances, groupOf, forward };
}
