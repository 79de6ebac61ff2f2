// The redrive journal on disk: DLQ message ids sent to the job queue whose delete from the DLQ has not
// been confirmed yet. Small (at most one batch per interrupted run) and rewritten whole each time.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../lib/atomic-write.js';
import { fluxerStateDir } from '../lib/state-dir.js';
import type { RedriveJournal } from './queue.js';

/** $XDG_STATE_HOME/fluxer/redrive (default ~/.local/state/fluxer/redrive), one file per DLQ URL. */
export function redriveJournalPath(env: NodeJS.ProcessEnv, dlqUrl: string, dlqName: string): string {
  const key = createHash('sha256').update(dlqUrl).digest('hex').slice(0, 12);
  return join(fluxerStateDir(env, 'redrive'), `${dlqName}-${key}.json`);
}

/** Throws when the folder cannot be created, so the caller can decide to go on without one. */
export function fileJournal(path: string): RedriveJournal & { size(): number } {
  mkdirSync(dirname(path), { recursive: true });
  const ids = new Set<string>(existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { sent: string[] }).sent : []);
  const save = () => {
    if (ids.size === 0) {
      rmSync(path, { force: true });
      return;
    }
    writeFileAtomicSync(path, JSON.stringify({ sent: [...ids] }));
  };
  return {
    has: (id) => ids.has(id),
    add(list) {
      if (!list.length) return;
      list.forEach((id) => ids.add(id));
      save();
    },
    remove(list) {
      if (!list.length) return;
      list.forEach((id) => ids.delete(id));
      save();
    },
    size: () => ids.size,
  };
}
