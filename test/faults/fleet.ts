// The fault suite's nodes: real runtime processes (tiny model, CPU), each with its own IMDSv2
// stand-in, all talking to AWS through the fault proxy. Process faults act on them as a region and
// an operator would: kill -9 (systemd restarts the runtime on the same node), SIGTERM (a stop:
// the runtime drains and exits; the node is replaced), SIGSTOP for longer than the visibility
// timeout and then SIGCONT (a paused node whose job another node takes: the stale writer), and a
// spot interruption notice (the node drains and exits; a new node replaces it).
import { readFileSync } from 'node:fs';
import { startRuntime, type RuntimeWorker } from '../support/runtime.js';
import { startImdsStandin, type ImdsStandin } from './imds.js';

export type ProcessFault = 'kill-9' | 'sigterm' | 'sigstop' | 'spot-notice';

export interface FleetOptions {
  endpoint: string;
  queueUrl: string;
  bucket: string;
  prefix: string;
  visibilitySeconds: number;
  name: string;
}

interface Node {
  instanceId: string;
  imds: ImdsStandin;
  worker: RuntimeWorker;
  busyWith?: string;
  paused: boolean;
  retired: boolean;
}

export class Fleet {
  private nodes: Node[] = [];
  private serial = 0;
  /** Every log line of every runtime process the fleet started, in order of process. */
  private finishedLogs: string[] = [];
  private pending = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly opts: FleetOptions) {}

  async add(instanceId = `i-${this.opts.name}-${String(++this.serial).padStart(3, '0')}`): Promise<void> {
    const imds = await startImdsStandin({ instanceId });
    const worker = await startRuntime({
      endpoint: this.opts.endpoint,
      queueUrl: this.opts.queueUrl,
      bucket: this.opts.bucket,
      prefix: this.opts.prefix,
      instanceId,
      readyTimeoutMs: 120_000,
      env: {
        FLUXER_IMDS_URL: imds.url,
        FLUXER_IMDS_POLL_SECONDS: '0.5',
        FLUXER_VISIBILITY_SECONDS: String(this.opts.visibilitySeconds),
        FLUXER_HEARTBEAT_SECONDS: '1',
        FLUXER_NODE_RECORD_SECONDS: '2',
        FLUXER_DRAIN_SECONDS: '4',
        FLUXER_NOTICE_MARGIN_SECONDS: '1',
        FLUXER_POWEROFF_COMMAND: 'true',
      },
    });
    this.nodes.push({ instanceId, imds, worker, paused: false, retired: false });
  }

  /** The nodes whose runtime reports BUSY right now (its state file), with the job it runs. */
  busy(): Node[] {
    return this.nodes.filter((n) => {
      if (n.retired || n.paused || n.worker.process.exitCode !== null || n.worker.process.signalCode !== null) return false;
      try {
        const doc = JSON.parse(readFileSync(n.worker.stateFile, 'utf8')) as { state?: string; currentJob?: string | null };
        n.busyWith = doc.currentJob ?? undefined;
        return doc.state === 'BUSY' && Boolean(doc.currentJob);
      } catch {
        return false;
      }
    });
  }

  /** Applies a fault to a busy node; returns the job it hit, or undefined when no node is busy. */
  strike(kind: ProcessFault, pick: (n: number) => number, nowMs: number): { node: string; job: string } | undefined {
    const busy = this.busy();
    if (busy.length === 0) return undefined;
    const node = busy[pick(busy.length)]!;
    const hit = { node: node.instanceId, job: node.busyWith ?? '?' };
    const proc = node.worker.process;
    switch (kind) {
      case 'kill-9':
        this.retire(node, () => proc.kill('SIGKILL'), node.instanceId);
        break;
      case 'sigterm':
        this.retire(node, () => proc.kill('SIGTERM'));
        break;
      case 'spot-notice':
        node.imds.noticeIn(2, nowMs);
        this.retire(node, () => undefined);
        break;
      case 'sigstop':
        node.paused = true;
        proc.kill('SIGSTOP');
        this.track(
          new Promise<void>((resolve) =>
            setTimeout(() => {
              proc.kill('SIGCONT');
              node.paused = false;
              resolve();
            }, (this.opts.visibilitySeconds + 3) * 1000),
          ),
        );
        break;
    }
    return hit;
  }

  /** Ends a node's process (or waits for it to end by itself) and starts its replacement: the same
   * instance id after kill -9 (systemd's restart), a new node otherwise. */
  private retire(node: Node, act: () => void, sameId?: string): void {
    node.retired = true;
    const exited = new Promise<void>((resolve) => {
      if (node.worker.process.exitCode !== null || node.worker.process.signalCode !== null) return resolve();
      node.worker.process.once('exit', () => resolve());
    });
    act();
    this.track(
      exited.then(async () => {
        this.finishedLogs.push(node.worker.logs());
        await node.imds.stop();
        this.nodes = this.nodes.filter((n) => n !== node);
        if (!this.stopping) await this.add(sameId);
      }),
    );
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resumes paused nodes, waits for replacements, stops every process; returns all logs. */
  async stop(): Promise<string> {
    this.stopping = true;
    for (const n of this.nodes) if (n.paused) n.worker.process.kill('SIGCONT');
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    for (const n of this.nodes) {
      if (n.paused) n.worker.process.kill('SIGCONT');
      await n.worker.stop();
      this.finishedLogs.push(n.worker.logs());
      await n.imds.stop();
    }
    this.nodes = [];
    return this.finishedLogs.join('');
  }
}
