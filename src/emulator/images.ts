// Images as AWS makes them, where moto does not (registered in server.ts; rows in test/README.md):
//
//   EC2 CreateImage (query protocol)
//     - snapshot TagSpecifications: AWS tags the new snapshots at creation; moto answers HTTP 500. Here
//       the snapshot specs are taken out before moto sees the call and applied with CreateTags to the
//       image's snapshots (its block device mappings) right after, so the caller sees AWS's result.
//       https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html
//     - the reboot: without NoReboot=true AWS reboots the instance to image it. A local node's folder
//       gets `reboot-requested`, which the node agent carries out (the worker restarts, as a rebooted
//       node's runtime does). RebootInstances does the same.
//     - held and failed images: moto's images are `available` at once. An entry set by a test (name
//       prefix) keeps matching images `pending` for holdMs, then answers its outcome: `available`, or
//       `failed` with a StateReason (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html)
//   EC2 DescribeImages: held images answer their state (and are filtered by `state` as AWS would)
//   EC2 DeregisterImage with DeleteAssociatedSnapshots=true: AWS deletes the image's snapshots; moto
//     leaves them. Here they are deleted after moto deregisters the image.
//     https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html
//
// Control API (not AWS):
//   POST   /_standin/images  body: ImageHold or ImageHold[]   → holds for images created from now on
//   DELETE /_standin/images[?accessKeyId=KEY]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { REBOOT_FILE, readRegistration } from '../lib/local-nodes.js';
import type { ForwardingModule, StandinRequest, Upstream } from './server.js';

export interface ImageHold {
  /** Images whose name starts with this. */
  namePrefix: string;
  /** How long the image stays `pending` after CreateImage (ms); a huge value: pending "forever". */
  holdMs: number;
  /** What it becomes after holdMs (default available). */
  outcome?: 'available' | 'failed';
  /** The StateReason message of a failed image. */
  reason?: string;
  accessKeyId?: string;
}

interface Held {
  until: number;
  outcome: 'available' | 'failed';
  reason: string;
}


function query(upstream: Upstream, req: StandinRequest, params: Record<string, string>): Promise<string> {
  const body = Buffer.from(new URLSearchParams({ Version: '2016-11-15', ...params }).toString());
  const authorization = (req.headers.authorization ?? '').replace(/(Credential=[^/]+\/\d{8}\/[^/]+\/)[^/]+\//, '$1ec2/');
  return upstream({ method: 'POST', path: '/', headers: { host: req.headers.host, authorization, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body }).then((a) => a.body.toString('utf8'));
}

function relay(res: ServerResponse, answer: { status: number; headers: Record<string, unknown>; body: Buffer }, body = answer.body): void {
  const headers = Object.fromEntries(Object.entries(answer.headers).filter(([k, v]) => typeof v === 'string' && !['transfer-encoding', 'connection', 'content-length'].includes(k))) as Record<string, string>;
  headers['content-length'] = String(body.length);
  res.writeHead(answer.status, headers).end(body);
}

/** The top-level <item> blocks of an <imagesSet>, with where each starts and ends. */
function imageItems(xml: string): Array<{ start: number; end: number; text: string }> {
  const open = xml.indexOf('<imagesSet>');
  if (open < 0) return [];
  const items: Array<{ start: number; end: number; text: string }> = [];
  const re = /<item>|<\/item>|<\/imagesSet>/g;
  re.lastIndex = open;
  let depth = 0;
  let start = -1;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (m[0] === '</imagesSet>' && depth === 0) break;
    if (m[0] === '<item>') {
      if (depth === 0) start = m.index;
      depth++;
    } else if (--depth === 0) items.push({ start, end: m.index + m[0].length, text: xml.slice(start, m.index + m[0].length) });
  }
  return items;
}

export function imagesStandin(nodesDir: string, now: () => number = Date.now): ForwardingModule {
  let holds: ImageHold[] = [];
  const held = new Map<string, Held>();

  const rebootNode = (instanceId: string | null) => {
    if (!instanceId || !readRegistration(nodesDir, instanceId)) return;
    const dir = join(nodesDir, instanceId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, REBOOT_FILE), new Date(now()).toISOString());
  };

  const createImage = async (req: StandinRequest, res: ServerResponse, upstream: Upstream, form: URLSearchParams) => {
    // TagSpecification.N.ResourceType=snapshot: kept aside, the others renumbered from 1 for moto.
    const specs = new Map<string, URLSearchParams>();
    for (const [k, v] of form) {
      const m = /^TagSpecification\.(\d+)\.(.+)$/.exec(k);
      if (!m) continue;
      const spec = specs.get(m[1]!) ?? new URLSearchParams();
      spec.set(m[2]!, v);
      specs.set(m[1]!, spec);
    }
    const forwarded = new URLSearchParams([...form].filter(([k]) => !k.startsWith('TagSpecification.')));
    const snapshotTags: Array<[string, string]> = [];
    let n = 0;
    for (const spec of specs.values()) {
      const tags: Array<[string, string]> = [];
      for (let i = 1; spec.has(`Tag.${i}.Key`); i++) tags.push([spec.get(`Tag.${i}.Key`)!, spec.get(`Tag.${i}.Value`) ?? '']);
      if (spec.get('ResourceType') === 'snapshot') {
        snapshotTags.push(...tags);
        continue;
      }
      n++;
      forwarded.set(`TagSpecification.${n}.ResourceType`, spec.get('ResourceType') ?? 'image');
      tags.forEach(([key, value], i) => {
        forwarded.set(`TagSpecification.${n}.Tag.${i + 1}.Key`, key);
        forwarded.set(`TagSpecification.${n}.Tag.${i + 1}.Value`, value);
      });
    }
    const answer = await upstream({ method: req.method, path: req.path, headers: req.headers, body: Buffer.from(forwarded.toString()) });
    const imageId = /<imageId>([^<]+)<\/imageId>/.exec(answer.body.toString('utf8'))?.[1];
    if (answer.status === 200 && imageId && form.get('DryRun') !== 'true') {
      if (snapshotTags.length) {
        const described = await query(upstream, req, { Action: 'DescribeImages', 'ImageId.1': imageId });
        const snapshots = [...described.matchAll(/<snapshotId>([^<]+)<\/snapshotId>/g)].map((m) => m[1]!);
        if (snapshots.length) {
          const params: Record<string, string> = { Action: 'CreateTags' };
          snapshots.forEach((s, i) => (params[`ResourceId.${i + 1}`] = s));
          snapshotTags.forEach(([k, v], i) => ((params[`Tag.${i + 1}.Key`] = k), (params[`Tag.${i + 1}.Value`] = v)));
          await query(upstream, req, params);
        }
      }
      const name = form.get('Name') ?? '';
      const hold = holds.find((h) => name.startsWith(h.namePrefix) && (h.accessKeyId === undefined || h.accessKeyId === req.scope.accessKeyId));
      if (hold) held.set(imageId, { until: now() + hold.holdMs, outcome: hold.outcome ?? 'available', reason: hold.reason ?? 'Image creation failed' });
      if (form.get('NoReboot') !== 'true') rebootNode(form.get('InstanceId'));
    }
    relay(res, answer);
    return true;
  };

  const stateOf = (imageId: string): { state: string; reason?: string } | undefined => {
    const h = held.get(imageId);
    if (!h) return undefined;
    if (now() < h.until) return { state: 'pending' };
    return h.outcome === 'failed' ? { state: 'failed', reason: h.reason } : { state: 'available' };
  };

  const describeImages = async (req: StandinRequest, res: ServerResponse, upstream: Upstream, form: URLSearchParams) => {
    const answer = await upstream({ method: req.method, path: req.path, headers: req.headers, body: req.body });
    let xml = answer.body.toString('utf8');
    if (answer.status !== 200 || held.size === 0) return relay(res, answer), true;
    // The `state` filter as AWS applies it: to the state answered here, not moto's.
    const wanted: string[] = [];
    for (const [k, v] of form) {
      const m = /^Filter\.(\d+)\.Name$/.exec(k);
      if (m && v === 'state') for (let i = 1; form.has(`Filter.${m[1]}.Value.${i}`); i++) wanted.push(form.get(`Filter.${m[1]}.Value.${i}`)!);
    }
    for (const item of imageItems(xml).reverse()) {
      const id = /<imageId>([^<]+)<\/imageId>/.exec(item.text)?.[1];
      const s = id ? stateOf(id) : undefined;
      if (!s) continue;
      if (wanted.length && !wanted.includes(s.state)) {
        xml = xml.slice(0, item.start) + xml.slice(item.end);
        continue;
      }
      const reason = s.reason ? `<stateReason><code>Server.InternalError</code><message>${s.reason.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'))}</message></stateReason>` : '';
      const text = item.text.replace(/<imageState>[^<]*<\/imageState>/, `<imageState>${s.state}</imageState>${reason}`);
      xml = xml.slice(0, item.start) + text + xml.slice(item.end);
    }
    relay(res, answer, Buffer.from(xml));
    return true;
  };

  const deregisterImage = async (req: StandinRequest, res: ServerResponse, upstream: Upstream, form: URLSearchParams) => {
    const imageId = form.get('ImageId') ?? '';
    const deleteSnapshots = form.get('DeleteAssociatedSnapshots') === 'true';
    const snapshots = deleteSnapshots ? [...(await query(upstream, req, { Action: 'DescribeImages', 'ImageId.1': imageId })).matchAll(/<snapshotId>([^<]+)<\/snapshotId>/g)].map((m) => m[1]!) : [];
    const forwarded = new URLSearchParams([...form].filter(([k]) => k !== 'DeleteAssociatedSnapshots'));
    const answer = await upstream({ method: req.method, path: req.path, headers: req.headers, body: Buffer.from(forwarded.toString()) });
    if (answer.status === 200) {
      held.delete(imageId);
      for (const s of snapshots) await query(upstream, req, { Action: 'DeleteSnapshot', SnapshotId: s });
    }
    relay(res, answer);
    return true;
  };

  return {
    async handle(req, res, upstream) {
      const url = new URL(req.path, 'http://standin');
      if (url.pathname === '/_standin/images') {
        if (req.method === 'POST') {
          const parsed = JSON.parse(req.body.toString('utf8') || '[]') as ImageHold | ImageHold[];
          holds.push(...(Array.isArray(parsed) ? parsed : [parsed]));
        } else if (req.method === 'DELETE') {
          const key = url.searchParams.get('accessKeyId');
          holds = key ? holds.filter((h) => h.accessKeyId !== key) : [];
        }
        const text = JSON.stringify({ holds });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
        return true;
      }
      const action = req.form?.get('Action');
      if (!req.form || !action) return false;
      if (action === 'CreateImage') return createImage(req, res, upstream, req.form);
      if (action === 'DescribeImages') return describeImages(req, res, upstream, req.form);
      if (action === 'DeregisterImage') return deregisterImage(req, res, upstream, req.form);
      if (action === 'RebootInstances') {
        for (let i = 1; req.form.has(`InstanceId.${i}`); i++) rebootNode(req.form.get(`InstanceId.${i}`));
        return false; // moto answers (it reboots nothing)
      }
      return false;
    },
  };
}

/** From a test file: hold (and maybe fail) the images created from now on whose name starts with namePrefix. */
export async function setStandinImageHolds(endpoint: string, holds: ImageHold[]): Promise<void> {
  const res = await fetch(`${endpoint}/_standin/images`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(holds) });
  if (!res.ok) throw new Error(`emulator: setting image holds failed: ${res.status} ${await res.text()}`);
}
