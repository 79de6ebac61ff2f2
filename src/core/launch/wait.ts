// `spot launch --wait`: follows each new node's record (`<prefix>nodes/<instance-id>.json`,
// schema/node.v1.schema.json), written first by the bootstrap (BOOTSTRAPPING) and then by the runtime,
// until every node is READY (or BUSY: ready and already working). Polls S3 on the injected clock.
import type { S3Port } from '../../aws/s3.js';
import { isNotFound } from '../../aws/errors.js';
import type { Clock } from '../../lib/clock.js';
import { nodesPrefix } from '../jobs.js';

export interface NodeProgress {
  instanceId: string;
  /** The record's state, or "NO RECORD" until the bootstrap wrote one. */
  state: string;
  reason?: string;
}

export interface WaitResult {
  nodes: NodeProgress[];
  /** Every node READY/BUSY. */
  ready: boolean;
  /** A node FAILED or STOPPED: it will not become ready (its dead-man's switch powers it off). */
  failed: NodeProgress[];
  timedOut: boolean;
}

const READY = new Set(['READY', 'BUSY']);
const DEAD = new Set(['FAILED', 'STOPPED']);

async function readState(s3: Pick<S3Port, 'getObject'>, bucket: string, key: string): Promise<{ state: string; reason?: string } | undefined> {
  try {
    const text = (await (await s3.getObject({ Bucket: bucket, Key: key })).Body?.transformToString('utf8')) ?? '';
    const doc = JSON.parse(text) as { state?: unknown; stateReason?: unknown };
    return typeof doc.state === 'string' ? { state: doc.state, ...(typeof doc.stateReason === 'string' ? { reason: doc.stateReason } : {}) } : undefined;
  } catch (err) {
    if (isNotFound(err, 's3') || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

export async function waitForNodes(
  s3: Pick<S3Port, 'getObject'>,
  where: { bucket: string; prefix: string },
  instanceIds: readonly string[],
  opts: { clock: Clock; timeoutMs: number; pollMs?: number; signal?: AbortSignal; onChange?: (node: NodeProgress) => void },
): Promise<WaitResult> {
  const deadline = opts.clock.now() + opts.timeoutMs;
  const nodes = new Map<string, NodeProgress>(instanceIds.map((id) => [id, { instanceId: id, state: 'NO RECORD' }]));
  for (;;) {
    for (const id of instanceIds) {
      const node = nodes.get(id)!;
      if (READY.has(node.state) || DEAD.has(node.state)) continue;
      const seen = await readState(s3, where.bucket, `${nodesPrefix(where.prefix)}${id}.json`);
      if (seen && seen.state !== node.state) {
        Object.assign(node, seen);
        opts.onChange?.(node);
      }
    }
    const list = [...nodes.values()];
    const failed = list.filter((n) => DEAD.has(n.state));
    const settled = list.every((n) => READY.has(n.state) || DEAD.has(n.state));
    if (settled) return { nodes: list, ready: failed.length === 0, failed, timedOut: false };
    if (opts.clock.now() >= deadline) return { nodes: list, ready: false, failed, timedOut: true };
    await opts.clock.sleep(Math.min(opts.pollMs ?? 5000, Math.max(1, deadline - opts.clock.now())), opts.signal);
  }
}
