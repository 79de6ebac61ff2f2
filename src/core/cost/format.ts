// The report for people (pure): totals and the key metrics, the billed lines, the groups as a table
// and, on a terminal, a bar chart of cost per day (or per group). Piped, the tables are tab-separated
// rows (Output.table) and no chart is drawn.
import { barChart } from './chart.js';
import type { CostReport } from './report.js';

type Table = (headers: string[], rows: Array<Array<string | number | null | undefined>>) => string;

const money = (n: number | null) => (n === null ? '-' : `$${n.toFixed(n !== 0 && Math.abs(n) < 0.1 ? 4 : 2)}`);
const pct = (n: number | null) => (n === null ? '-' : `${Math.round(n * 1000) / 10}%`);
const secs = (n: number | null) => (n === null ? '-' : `${n}s`);

export function formatReport(r: CostReport, opts: { table: Table; chart: boolean; unicode: boolean }): string {
  const t = r.totals;
  const out: string[] = [];
  out.push(`Cost of stack "${r.stack}" (${r.region}), ${r.since} to ${r.until}: ${money(t.cost)} — ${r.label}`);
  out.push('');
  out.push(
    opts.table(
      ['LINE', 'COST', 'BASIS'],
      r.lines.map((l) => [l.name, money(l.cost), l.basis]),
    ),
  );
  out.push('');
  out.push(
    opts.table(
      [r.by.toUpperCase(), 'NODES', 'NODE-HOURS', 'IMAGES', 'COST', 'ON-DEMAND', 'SAVED', '$/IMAGE'],
      r.groups.map((g) => [g.key, g.nodes, g.nodeHours, g.images, money(g.cost), money(g.onDemandCost), g.savingsPercent === null ? '-' : `${g.savingsPercent}%`, money(g.costPerImage)]),
    ),
  );
  if (opts.chart && r.groups.length) {
    out.push('');
    out.push(`Cost per ${r.by}:`);
    out.push(barChart(r.groups.map((g) => ({ label: g.key, value: g.cost })), { unicode: opts.unicode, format: (v) => money(v) }));
  }
  out.push('');
  const saved = t.savings === null ? 'n/a (no on-demand price)' : `${money(t.savings)} (${t.savingsPercent}%) against ${money(t.onDemandCost)} on-demand`;
  out.push(
    opts.table(
      ['FIGURE', 'VALUE'],
      [
        ['nodes', `${t.nodes}${t.unpricedNodes ? ` (${t.unpricedNodes} unpriced)` : ''}`],
        ['node-hours', t.nodeHours],
        ['images', t.images],
        ['cost per image (all-in)', money(t.costPerImage)],
        ['cost per image (busy only)', money(t.costPerImageBusy)],
        ['saved', saved],
        ['success rate', pct(t.successRate)],
        ['generation p50 / p95', `${secs(t.generationSeconds.p50)} / ${secs(t.generationSeconds.p95)}`],
        ['queue wait p50 / p95', `${secs(t.queueWaitSeconds.p50)} / ${secs(t.queueWaitSeconds.p95)}`],
        ['images per node-hour', t.imagesPerNodeHour ?? '-'],
        ['utilisation', pct(t.utilisation)],
        ['interruptions (by AWS)', `${t.interruptions}${t.freeHours ? `, ${t.freeHours} in the first hour (not charged: ${money(t.waived)})` : ''}`],
      ],
    ),
  );
  if (r.unpriced.length) {
    out.push('');
    out.push(`Unpriced (not in the cost, never guessed): ${r.unpriced.map((u) => `${u.instanceId} (${u.reason})`).join(', ')}`);
  }
  if (r.reconcile) {
    const c = r.reconcile;
    out.push('');
    out.push(
      c.available
        ? `Cost Explorer (${c.tag}, ${c.start} to ${c.end}): ${money(c.costExplorerCost)}; this report ${money(c.reportCost)}; difference ${money(c.difference)}. ${c.note}`
        : `Cost Explorer (${c.tag}): no figure${c.error ? ` (${c.error})` : ' (no data for the tag: not activated, or not billed yet)'}. ${c.note}`,
    );
  }
  return out.join('\n');
}
