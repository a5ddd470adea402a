/**
 * How the bulk writes split their rows into statements (src/store/store.ts, src/store/campaigns.ts).
 */

/**
 * Rows per statement in the bulk writes: an operations row has a dozen columns, so 500 rows stay
 * far below the bound parameters a statement may have (SQLite 32,766, PostgreSQL 65,535).
 */
export const BULK_ROWS = 500;

/**
 * `xs` in consecutive slices of at most `n`.
 * @example
 * chunks([1, 2, 3], 2) // => [[1, 2], [3]]
 */
export function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
