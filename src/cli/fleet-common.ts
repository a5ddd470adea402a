/**
 * What the control-plane commands share: where the data directory is, opening the fleet on it,
 * finding a guest from `NAME` or `HOST/NAME`, and printing a value as JSON or as text.
 */
import { openFleet, type Fleet, type FleetOptions } from '../fleet/fleet.ts';
import type { Guest } from '../store/schema.ts';
import { UsageError } from './args.ts';
import { DEFAULT_VERIFY } from '../fleet/verify.ts';
import { flag as settingFlag, loadSettings } from '../settings/load.ts';
import { numberOf, textOf } from '../settings/resolve.ts';

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

/** Opens the fleet on the data directory with the verification timeouts from the settings. */
export function open(flag: string | undefined, extra: Omit<FleetOptions, 'dataDir'> = {}): Promise<Fleet> {
  const s = loadSettings({ 'store.data_dir': settingFlag('--data-dir', flag) });
  const timeouts = { verify: { ...DEFAULT_VERIFY, bootTimeoutMs: numberOf(s, 'verify.boot_timeout') * 1000 }, shutdownTimeoutMs: numberOf(s, 'verify.shutdown_timeout') * 1000 };
  return openFleet({ dataDir: textOf(s, 'store.data_dir')!, ...timeouts, ...extra });
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
