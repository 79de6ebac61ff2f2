// The node records' histograms (schema/node.v1.schema.json): fixed bounds per field, so a fleet's
// histogram is the bucket-by-bucket sum of its nodes'. Quantiles are estimated the way Prometheus's
// histogram_quantile does: linear interpolation inside the bucket the rank falls in.
// https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile
export interface Histogram {
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}

/** Adds `h` into `into` (or starts it); a histogram with other bounds is refused (false), never misfiled. */
export function mergeHistogram(into: Histogram | undefined, h: unknown): { merged: Histogram | undefined; ok: boolean } {
  if (!isHistogram(h)) return { merged: into, ok: false };
  if (!into) return { merged: { bounds: [...h.bounds], counts: [...h.counts], sum: h.sum, count: h.count }, ok: true };
  if (into.bounds.length !== h.bounds.length || into.bounds.some((b, i) => b !== h.bounds[i])) return { merged: into, ok: false };
  return { merged: { bounds: into.bounds, counts: into.counts.map((c, i) => c + (h.counts[i] ?? 0)), sum: into.sum + h.sum, count: into.count + h.count }, ok: true };
}

function isHistogram(h: unknown): h is Histogram {
  const x = h as Histogram;
  return (
    !!x &&
    Array.isArray(x.bounds) &&
    Array.isArray(x.counts) &&
    x.counts.length === x.bounds.length + 1 &&
    x.counts.every((c) => Number.isInteger(c) && c >= 0) &&
    typeof x.sum === 'number' &&
    typeof x.count === 'number'
  );
}

/**
 * The q-quantile (0..1) in seconds, or null with no observations. Inside a bucket the observations
 * are taken as spread evenly from its lower to its upper bound (the first bucket starts at 0); a rank
 * in the overflow bucket (above the last bound) answers the last bound: "at least this".
 */
export function quantile(h: Histogram | undefined, q: number): number | null {
  if (!h) return null;
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c > 0 && below + c >= rank) {
      if (i >= h.bounds.length) return h.bounds[h.bounds.length - 1]!;
      const lo = i === 0 ? 0 : h.bounds[i - 1]!;
      const hi = h.bounds[i]!;
      return round(lo + ((hi - lo) * (rank - below)) / c, 3);
    }
    below += c;
  }
  return h.bounds[h.bounds.length - 1]!;
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));
