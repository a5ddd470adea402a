/**
 * What the control-plane commands share: where the data directory is, opening the fleet on it,
 * finding a guest from `NAME` or `HOST/NAME`, and printing a value as JSON or as text.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openFleet, type Fleet, type FleetOptions } from '../fleet/fleet.ts';
import { recoverRehearsals } from '../fleet/rehearse.ts';
import type { Guest } from '../store/schema.ts';
import { isPostgresUrl, SQLITE_FILE } from '../store/store.ts';
import { pgBossQueue } from '../fleet/queue.ts';
import { UsageError } from './args.ts';
import { DEFAULT_VERIFY } from '../fleet/verify.ts';
import { flag as settingFlag, loadSettings } from '../settings/load.ts';
import { numberOf, textOf } from '../settings/resolve.ts';
import { rehearsalDefaults } from '../settings/rehearse.ts';

/** The options every control-plane command accepts. */
export const COMMON = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * The data directory: --data-dir, else $PVHCTL_DATA_DIR, else store.data_dir in the settings file,
 * else /var/lib/pvhctl for root and ~/.local/share/pvhctl for others.
 * @example
 * dataDir(undefined) // => '/var/lib/pvhctl' (as root, no $PVHCTL_DATA_DIR)
 */
export function dataDir(flag: string | undefined): string {
  return textOf(loadSettings({ 'store.data_dir': settingFlag('--data-dir', flag) }), 'store.data_dir')!;
}

/**
 * What a command does with the data directory: `creates` may start a new store there (host add,
 * token add, serve); `needs-store` only works on what is already recorded, so a directory with no
 * store is a mistyped --data-dir and must not silently become a new, empty one.
 */
export type StoreUse = 'creates' | 'needs-store';

/**
 * Where the store is when it is not the SQLite file in the data directory: $PVHCTL_STORE, which
 * `--store URL` on any command sets (src/cli/main.ts), or store.url in the settings file (which
 * open() passes). Only PostgreSQL URLs are accepted.
 * @example
 * storeUrl() // => 'postgresql://pvhctl@db1/pvhctl' | undefined
 */
export function storeUrl(url: string | null | undefined = process.env.PVHCTL_STORE): string | undefined {
  if (url === undefined || url === null || url === '') return undefined;
  if (!isPostgresUrl(url)) throw new UsageError(`--store / PVHCTL_STORE: expected a postgresql:// URL, got ${JSON.stringify(url.slice(0, 80))}`);
  return url;
}

/**
 * Opens the fleet for a command, with the verification timeouts from the settings. The store is
 * PostgreSQL when --store, $PVHCTL_STORE or store.url says so: operations then go to the job queue
 * for `pvhctl worker` processes, and recovery is theirs too (a command does not take over a
 * worker's operation). On the SQLite default, `needs-store` refuses (one line) a data directory
 * with no store.
 */
export async function open(flag: string | undefined, extra: Omit<FleetOptions, 'dataDir'> = {}, use: StoreUse = 'creates'): Promise<Fleet> {
  const s = loadSettings({ 'store.data_dir': settingFlag('--data-dir', flag) });
  const timeouts = {
    verify: { ...DEFAULT_VERIFY, bootTimeoutMs: numberOf(s, 'verify.boot_timeout') * 1000 },
    shutdownTimeoutMs: numberOf(s, 'verify.shutdown_timeout') * 1000,
    rehearsal: rehearsalDefaults(s),
  };
  const dir = textOf(s, 'store.data_dir')!;
  const store = storeUrl(textOf(s, 'store.url'));
  if (store !== undefined) {
    // Switches are the workers' to recover; rehearsals run in the process that started them, so
    // this machine removes what its own dead ones left (as openFleet does on SQLite).
    const fleet = await openFleet({ dataDir: dir, store, queue: await pgBossQueue(store), ...timeouts, ...extra, recover: false });
    if (extra.recover !== false) await recoverRehearsals(fleet.ctx, 'this-machine');
    return fleet;
  }
  if (use === 'needs-store' && !existsSync(join(dir, SQLITE_FILE))) {
    throw new Error(`no pvhctl data in ${dir} (no ${SQLITE_FILE}): check --data-dir or $PVHCTL_DATA_DIR; 'pvhctl host add' starts a new one`);
  }
  return openFleet({ dataDir: dir, ...timeouts, ...extra });
}

/**
 * SIGTERM or Ctrl-C while this process runs operations: the first stops nothing in flight (the
 * command ends when its operations have finished, the guests up in their old or new type); a
 * second exits at once, and the next pvhctl (or a worker) finishes them from the journal.
 * Operations a worker runs are only followed here, so a signal then just stops following.
 */
export function finishOnSignal(fleet: Fleet, what: string): () => void {
  const first = () => {
    if (fleet.ctx.queue !== undefined) process.exit(130);
    process.stderr.write(`pvhctl: finishing the ${what} in flight (the guest is not left down); signal again to stop at once\n`);
    process.once('SIGTERM', () => process.exit(143));
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGTERM', first);
  process.once('SIGINT', first);
  return () => {
    process.off('SIGTERM', first);
    process.off('SIGINT', first);
  };
}

/** Finds one guest by `NAME` (must be unique across hosts) or `HOST/NAME`; throws a one-line error. */
export async function findGuest(fleet: Fleet, spec: string): Promise<Guest> {
  const slash = spec.indexOf('/');
  let hostId: number | undefined;
  let name = spec;
  if (slash >= 0) {
    const host = await fleet.store.getHost(spec.slice(0, slash));
    if (host === undefined) throw new Error(`no host named ${JSON.stringify(spec.slice(0, slash))}`);
    hostId = host.id;
    name = spec.slice(slash + 1);
  }
  const found = await fleet.store.getGuest(name, hostId);
  if (found.length === 0) throw new Error(`no guest named ${JSON.stringify(spec)} (run 'pvhctl scan' first?)`);
  if (found.length > 1) throw new Error(`${found.length} guests are named ${JSON.stringify(name)}; say HOST/${name}`);
  return found[0]!;
}

export function needOne(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

/** Prints `value` as one line of JSON with --json, else the text `human` makes of it. */
export function output<T>(json: boolean | undefined, value: T, human: (v: T) => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : human(value));
}

/** Left-aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
