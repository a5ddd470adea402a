/**
 * Per-host concurrency: at most `max` switches run at once on one host, however many are asked for.
 */
export type Limiter = { run<T>(key: string | number, max: number, fn: () => Promise<T>): Promise<T> };

/**
 * A keyed counting semaphore (FIFO within a key).
 * @example
 * const l = makeLimiter();
 * await Promise.all(guests.map((g) => l.run(g.host_id, 2, () => switchOne(g)))) // 2 at a time per host
 */
export function makeLimiter(): Limiter {
  const active = new Map<string | number, number>();
  const waiting = new Map<string | number, (() => void)[]>();
  return {
    async run(key, max, fn) {
      if ((active.get(key) ?? 0) >= Math.max(1, max)) {
        await new Promise<void>((resolve) => {
          const q = waiting.get(key) ?? [];
          q.push(resolve);
          waiting.set(key, q);
        });
      } else {
        active.set(key, (active.get(key) ?? 0) + 1);
      }
      try {
        return await fn();
      } finally {
        const next = waiting.get(key)?.shift();
        // Hand the slot straight to the next waiter; otherwise give it back.
        if (next) next();
        else active.set(key, (active.get(key) ?? 1) - 1);
      }
    },
  };
}
