// How a read → diff → apply plan prints (setup's resources, the fleet's): one row per resource and its
// action, then `+ setting: value` for what is new and `~ setting: from → to` for what changes.
import type { SetupAction, SetupChange } from '../core/setup.js';
import type { Output } from './output.js';

const ACTION_LABELS: Record<SetupAction, string> = {
  created: 'created',
  updated: 'updated',
  unchanged: 'ok',
  'would-create': 'would create',
  'would-update': 'would update',
};

/** The rows of a read → diff → apply plan (setup's resources, the fleet's). */
export function formatPlanRows(out: Output, resources: ReadonlyArray<{ type: string; name: string; action: SetupAction; changes: SetupChange[]; url?: string }>): string {
  const lines: string[] = [];
  const typeWidth = Math.max(...resources.map((r) => r.type.length));
  const nameWidth = Math.max(...resources.map((r) => r.name.length));
  for (const r of resources) {
    const label = ACTION_LABELS[r.action];
    const colored = r.action === 'unchanged' ? out.out.green(label) : r.action.startsWith('would') ? out.out.yellow(label) : out.out.cyan(label);
    lines.push(`${r.type.padEnd(typeWidth)}  ${r.name.padEnd(nameWidth)}  ${colored}${r.url ? `  ${r.url}` : ''}`);
    for (const c of r.changes) {
      lines.push(c.from === null ? `    + ${c.setting}: ${c.to}` : `    ~ ${c.setting}: ${c.from} → ${c.to}`);
    }
  }
  return lines.join('\n');
}
