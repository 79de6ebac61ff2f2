// The report as CSV rows for spreadsheets (pure): RFC 4180 quoting, one header row, one row per group,
// a row per line item and a totals row, so a sheet can sum the groups or read the totals directly.
import type { CostReport } from './report.js';

export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const HEADER = ['kind', 'key', 'nodes', 'nodeHours', 'images', 'cost', 'computeCost', 'onDemandCost', 'savings', 'savingsPercent', 'costPerImage', 'costPerImageBusy', 'since', 'until', 'label'];

export function formatCsv(report: CostReport): string {
  const rows: Array<Array<string | number | null>> = [HEADER];
  const tail = [report.since, report.until, report.label];
  for (const g of report.groups) {
    rows.push([report.by, g.key, g.nodes, g.nodeHours, g.images, g.cost, g.computeCost, g.onDemandCost, g.savings, g.savingsPercent, g.costPerImage, g.costPerImageBusy, ...tail]);
  }
  for (const l of report.lines) rows.push(['line', l.name, null, null, null, l.cost, null, null, null, null, null, null, ...tail]);
  const t = report.totals;
  rows.push(['total', 'all', t.nodes, t.nodeHours, t.images, t.cost, t.computeCost, t.onDemandCost, t.savings, t.savingsPercent, t.costPerImage, t.costPerImageBusy, ...tail]);
  return `${rows.map((r) => r.map(csvField).join(',')).join('\r\n')}\r\n`;
}
