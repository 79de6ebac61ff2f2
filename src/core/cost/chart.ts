// A horizontal bar chart in text (pure): one row per label, bars scaled to the largest value. Unicode
// blocks with eighth-width ends (█ ▉ ▊ ▋ ▌ ▍ ▎ ▏), or '#' when the terminal may not have them.
// No colour: it is plain text, fine on any terminal and in a pager.
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

export interface BarChartOptions {
  /** Columns of the longest bar. */
  width?: number;
  unicode?: boolean;
  /** How a value is written after its bar. */
  format?: (value: number) => string;
}

export function barChart(rows: ReadonlyArray<{ label: string; value: number }>, opts: BarChartOptions = {}): string {
  if (!rows.length) return '';
  const width = Math.max(1, opts.width ?? 40);
  const unicode = opts.unicode ?? true;
  const format = opts.format ?? ((v: number) => String(v));
  const max = Math.max(...rows.map((r) => Math.max(0, r.value)));
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  return rows
    .map((r) => {
      const v = Math.max(0, r.value);
      const cells = max > 0 ? (v / max) * width : 0;
      let bar: string;
      if (unicode) {
        const eighths = Math.round(cells * 8);
        bar = '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
        // A value above zero always shows a sliver.
        if (bar === '' && v > 0) bar = '▏';
      } else {
        bar = '#'.repeat(Math.round(cells)) || (v > 0 ? '#' : '');
      }
      return `${r.label.padEnd(labelWidth)}  ${bar.padEnd(width)}  ${format(r.value)}`.trimEnd();
    })
    .join('\n');
}
