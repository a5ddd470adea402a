/**
 * `pvhctl store copy`: moves one dom0's SQLite history into a PostgreSQL store, every row with its
 * own id (operations keep their numbers, config versions their bytes), in one target transaction,
 * then proves it: each table's row count and a checksum over its rows, read back from both sides.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Store } from './store.ts';

/** The tables copied, parents before children (foreign keys hold at every insert). */
export const COPIED_TABLES = ['hosts', 'tokens', 'guests', 'config_versions', 'operations', 'journal', 'audit', 'customer_keys', 'rehearsals', 'rehearsal_journal', 'campaigns', 'campaign_guests', 'owner_contacts', 'mails', 'link_keys'] as const;

/** Kysely's own bookkeeping and SQLite's internals: never copied (the target has its own). */
const INTERNAL = /^(kysely_|sqlite_)/;

/** Rows per INSERT: well under PostgreSQL's 65535 parameters for the widest table. */
const BATCH = 500;

/** One table's row count and checksum. */
export type TableSum = { table: string; rows: number; sha256: string };

export type CopyResult =
  | { ok: true; tables: TableSum[] }
  | { ok: false; error: string };

/** A cell as the checksum sees it: bytes as hex, so BLOB and bytea hash alike. */
function cell(v: unknown): unknown {
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/**
 * The row count and sha256 of a table: rows in id order, columns in name order, one JSON line each.
 * @example
 * await tableSum(store.db, 'audit') // => { table: 'audit', rows: 12, sha256: '9f2c…' }
 */
export async function tableSum(db: Kysely<any>, table: string): Promise<TableSum> {
  const h = createHash('sha256');
  let rows = 0;
  for (let after = -1; ; ) {
    const page = await db.selectFrom(table).selectAll().where('id', '>', after).orderBy('id').limit(BATCH).execute();
    for (const r of page) {
      const keys = Object.keys(r).sort();
      h.update(`${JSON.stringify(keys.map((k) => [k, cell(r[k])]))}\n`);
    }
    rows += page.length;
    if (page.length < BATCH) break;
    after = Number(page.at(-1)!.id);
  }
  return { table, rows, sha256: h.digest('hex') };
}

/** The user tables of a SQLite store. */
async function sqliteTables(db: Kysely<any>): Promise<string[]> {
  const r = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db);
  return r.rows.map((x) => x.name).filter((n) => !INTERNAL.test(n));
}

/**
 * Copies every row of `from` (a SQLite store) into `to` (a PostgreSQL store) and verifies counts
 * and checksums. Refuses a target that already has rows unless `replace` (which empties it first,
 * in the same transaction). Nothing is written to the target if any step fails.
 * @example
 * await copyStore(await openStore('/var/lib/pvhctl'), await openStore(url), { replace: false })
 * // => { ok: true, tables: [{ table: 'hosts', rows: 3, sha256: '…' }, …] }
 */
export async function copyStore(from: Store, to: Store, opts: { replace: boolean }): Promise<CopyResult> {
  if (from.engine !== 'sqlite' || to.engine !== 'postgres') return { ok: false, error: 'copies a SQLite store into a PostgreSQL one' };
  const src = from.db as unknown as Kysely<any>;
  const dst = to.db as unknown as Kysely<any>;
  const unknown = (await sqliteTables(src)).filter((t) => !(COPIED_TABLES as readonly string[]).includes(t));
  // A table this pvhctl does not know would be left behind: refuse rather than lose it.
  if (unknown.length > 0) return { ok: false, error: `the source has tables this pvhctl does not know: ${unknown.join(', ')}` };
  const before = await Promise.all(COPIED_TABLES.map((t) => tableSum(src, t)));
  const filled = (await Promise.all(COPIED_TABLES.map((t) => tableSum(dst, t)))).filter((s) => s.rows > 0);
  if (filled.length > 0 && !opts.replace) {
    return { ok: false, error: `the target is not empty (${filled.map((s) => `${s.table}: ${s.rows} rows`).join(', ')}); give --replace to empty it first` };
  }
  const differ: string[] = [];
  let after: TableSum[] = [];
  await dst
    .transaction()
    .execute(async (t) => {
      if (filled.length > 0) {
        await sql`truncate table ${sql.join(COPIED_TABLES.map((n) => sql.table(n)))} restart identity cascade`.execute(t);
      }
      for (const table of COPIED_TABLES) {
        for (let last = -1; ; ) {
          const page = await src.selectFrom(table).selectAll().where('id', '>', last).orderBy('id').limit(BATCH).execute();
          if (page.length > 0) await t.insertInto(table).values(page).execute();
          if (page.length < BATCH) break;
          last = Number(page.at(-1)!.id);
        }
        // The rows came with their ids: move the identity past them, or the next insert collides.
        await sql`select setval(pg_get_serial_sequence(${table}, 'id'), coalesce((select max(id) from ${sql.table(table)}), 0) + 1, false)`.execute(t);
      }
      // Verified before the commit: a copy that does not read back identical is not kept.
      after = await Promise.all(COPIED_TABLES.map((n) => tableSum(t, n)));
      after.forEach((a, i) => {
        if (a.rows !== before[i]!.rows || a.sha256 !== before[i]!.sha256) differ.push(a.table);
      });
      if (differ.length > 0) throw new CopyMismatch();
    })
    .catch((err: unknown) => {
      if (!(err instanceof CopyMismatch)) throw err;
    });
  if (differ.length > 0) return { ok: false, error: `nothing copied: ${differ.join(', ')} would differ from the source (count or checksum)` };
  return { ok: true, tables: after };
}

class CopyMismatch extends Error {}
