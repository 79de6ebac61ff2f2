// Bounded concurrency, the one way fluxer runs many AWS calls at once: `mapConcurrent` for a list
// known up front, `createLimiter` for tasks that arrive over time (downloads while a job runs).

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. The first
 * failure rejects the whole and no further item is started (calls already in flight finish).
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, items.length)) }, worker));
  return results;
}

export type Limiter = <R>(task: () => Promise<R>) => Promise<R>;

/** Starts each task once fewer than `limit` are running, in the order given; resolves as the task does. */
export function createLimiter(limit: number): Limiter {
  let running = 0;
  const waiting: Array<() => void> = [];
  return <R>(task: () => Promise<R>) =>
    new Promise<R>((resolve, reject) => {
      const start = () => {
        running += 1;
        task()
          .then(resolve, reject)
          .finally(() => {
            running -= 1;
            waiting.shift()?.();
          });
      };
      if (running < limit) start();
      else waiting.push(start);
    });
}

export type PriorityLimiter = <R>(priority: number, task: () => Promise<R>) => Promise<R>;

/**
 * Like createLimiter, but a free slot goes to the waiting task with the lowest `priority` (ties in
 * arrival order). One budget shared by work of several owners where the earlier owner should finish
 * first: the parts of the first file of a push before the parts of the second.
 */
export function createPriorityLimiter(limit: number): PriorityLimiter {
  let running = 0;
  let arrivals = 0;
  const waiting: Array<{ priority: number; order: number; start: () => void }> = [];
  const next = () => {
    if (running >= limit || waiting.length === 0) return;
    let best = 0;
    for (let i = 1; i < waiting.length; i++) {
      const w = waiting[i]!;
      const b = waiting[best]!;
      if (w.priority < b.priority || (w.priority === b.priority && w.order < b.order)) best = i;
    }
    waiting.splice(best, 1)[0]!.start();
  };
  return <R>(priority: number, task: () => Promise<R>) =>
    new Promise<R>((resolve, reject) => {
      const start = () => {
        running += 1;
        Promise.resolve()
          .then(task)
          .then(resolve, reject)
          .finally(() => {
            running -= 1;
            next();
          });
      };
      waiting.push({ priority, order: arrivals++, start });
      next();
    });
}
