/**
 * `pvhctl store copy --from DIR --to URL [--replace]`: moves one dom0's SQLite store into
 * PostgreSQL, verified by each table's row count and checksum (src/store/copy.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { copyStore } from '../store/copy.ts';
import { isPostgresUrl, openStore, redactUrl, SQLITE_FILE } from '../store/store.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { output, table } from './fleet-common.ts';

export const help = `usage: pvhctl store copy --from DIR --to URL [--replace] [--json]

Copies the SQLite store in the data directory DIR (hosts, guests, every config version, operation,
journal entry, token, audit row and customer key, with their ids) into the PostgreSQL database at
URL (postgresql://USER@HOST/DB), in one transaction, and checks that each table reads back with
the same row count and checksum before it commits. A target that already has rows is refused
unless --replace, which empties it first. The source is only read (after bringing its schema up
to date, as any command does).

exit status: 0 copied and verified; 1 refused or failed (nothing written); 2 usage error
`;

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values } = parse(rest, { from: { type: 'string' }, to: { type: 'string' }, replace: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub !== 'copy') throw new UsageError(`unknown subcommand '${sub}'`);
  if (values.from === undefined || values.to === undefined) throw new UsageError('give --from DIR and --to URL');
  if (!isPostgresUrl(values.to)) throw new UsageError(`--to: expected a postgresql:// URL, got ${JSON.stringify(values.to.slice(0, 80))}`);
  // Opening a missing directory would create an empty store and copy nothing: say so instead.
  if (!existsSync(join(values.from, SQLITE_FILE))) throw new Error(`${values.from}: no ${SQLITE_FILE} here (not a pvhctl data directory)`);
  const from = await openStore(values.from);
  try {
    const to = await openStore(values.to);
    try {
      const r = await copyStore(from, to, { replace: values.replace === true });
      if (!r.ok) throw new Error(r.error);
      output(values.json, { from: values.from, to: redactUrl(values.to), tables: r.tables }, (v) =>
        table(['TABLE', 'ROWS', 'SHA256'], v.tables.map((t) => [t.table, String(t.rows), t.sha256])) + `copied and verified: ${v.from} → ${v.to}\n`,
      );
      return 0;
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}
