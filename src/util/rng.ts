/**
 * mulberry32: a small, fast, seeded PRNG, for the simulator's fleets and the fuzz and
 * differential tests, so that a seed always gives the same cases and a failure can be replayed.
 */

/**
 * Returns a generator of floats in [0, 1), deterministic for `seed`.
 * @example
 * const r = rng(1); r() // => 0.6270739405881613
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
