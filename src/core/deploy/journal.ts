// The deploy journal: the rollout's state saved on every change under fluxer's state folder
// (deploys/<deploy id>.json), so a deploy that was interrupted (Ctrl-C, a lost laptop lid) still says
// which node is on which release, and which one was mid-step.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { fluxerStateDir } from '../../lib/state-dir.js';
import type { RolloutState } from './rollout.js';

export interface DeployRecord {
  version: 1;
  deployId: string;
  stack: string;
  region: string;
  release: string;
  /** The SSM parameter and what it named before the deploy (the release new nodes boot). */
  parameter: string;
  parameterBefore: string | null;
  createdAt: string;
  updatedAt: string;
  /** running, then finished, or interrupted (the process stopped with nodes mid-step). */
  outcome: 'running' | 'finished' | 'interrupted';
  promoted: boolean;
  rollout: RolloutState;
}

/** `d-<UTC yyyymmddhhmmss>-<8 hex>`: sorts by time, fits a file name. */
export function newDeployId(nowMs: number, random: (n: number) => Buffer = randomBytes): string {
  return `d-${new Date(nowMs).toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${random(4).toString('hex')}`;
}

export function deployJournalDir(env: NodeJS.ProcessEnv): string {
  return fluxerStateDir(env, 'deploys');
}

export class DeployJournal {
  constructor(private readonly dir: string) {}

  path(deployId: string): string {
    return join(this.dir, `${deployId}.json`);
  }

  save(record: DeployRecord): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomicSync(this.path(record.deployId), `${JSON.stringify(record, null, 2)}\n`);
  }
}

/** "i-1: 0.1.0-abc (mid-step: installing); i-2: 0.1.0-old": where each node is, for an interrupted deploy's message. */
export function whereNodesAre(rollout: RolloutState): string {
  return rollout.nodes
    .map((n) => {
      const done = n.phase === 'pending' || n.phase === 'deployed' || n.phase === 'rolled-back';
      return `${n.instanceId}: ${done ? (n.on ?? 'unknown') : `unknown (stopped while ${n.phase}; was ${n.from ?? 'unknown'})`}`;
    })
    .join('; ');
}
