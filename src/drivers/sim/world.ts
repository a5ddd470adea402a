/**
 * The simulated Xen host, after libvirt's test:///default: a whole host in memory (files in dom0,
 * domains, xenstore frontends, console logs) that behaves as `xl` does, with faults that can be
 * injected: a kernel panic on boot, a hang, a slow shutdown, a lost connection, a host reboot.
 * State can live in a JSON file so that a killed pvhctl process finds the host as it left it.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import type { DomainType, XenbusState } from '../driver.ts';

/** What the guest's kernel can boot as (the sim's stand-in for the kernel verdict). */
export type SimKernel = { pv: boolean; pvh: boolean; arch: 'x86_64' | 'x86_32p' };

/** An injected fault. `count` boots (or calls) it applies to; it is used up as it fires. */
export type SimFault =
  /**
   * The kernel panics while booting. `silent`: its messages do not reach the console (a PVH boot
   * without console=hvc0), and with Linux's default panic=0 the domain stays, halted, its
   * frontends never connecting.
   */
  | { kind: 'panic'; onType?: DomainType; count: number; silent?: boolean }
  | { kind: 'hang'; onType?: DomainType; count: number }
  | { kind: 'slow-shutdown'; ms: number; count: number }
  /** A test boot writes more than its snapshot's CoW area holds: dm-snapshot drops the snapshot, I/O to it fails. */
  | { kind: 'snapshot-full'; count: number }
  /** The kernel boots and the frontends connect, but the userland never prints a login prompt (no getty on hvc0). */
  | { kind: 'no-getty'; onType?: DomainType; count: number };

/** A disk in the simulated dom0: an LV (a snapshot when `origin` is set) or an image file. */
export type SimVolume =
  | { kind: 'lv'; vg: string; sizeBytes: number; origin: string | null; cowBytes: number; invalid?: boolean }
  | { kind: 'file'; sizeBytes: number; reflink: boolean; copyOf: string | null };

/** A volume group: its extent size and how many extents are free. */
export type SimVg = { extentBytes: number; freeExtents: number };

export type SimHostFault =
  | { kind: 'lost-connection'; calls: number }
  | { kind: 'host-reboot'; afterCalls: number; downCalls: number }
  /** A dom0 without /var/lock: `xl console` (xenconsole) prints its error and exits after `ms`. */
  | { kind: 'no-var-lock'; ms: number };

export type SimGuest = {
  name: string;
  owner: string | null;
  configPath: string;
  kernel: SimKernel;
  /** Booted by a PV GRUB image from its own disk, else by a kernel in dom0. */
  boot: 'direct' | 'pvgrub';
  faults: SimFault[];
};

export type SimDomain = {
  name: string;
  domid: number;
  type: DomainType;
  pvshim: boolean;
  state: 'running' | 'blocked' | 'crashed';
  /** Epoch ms when the frontends reach Connected (the guest finished booting). */
  readyAt: number;
  /** Set by a hang: the frontends never connect. */
  hung: boolean;
  /** Epoch ms when a requested shutdown completes (null: none requested). */
  shutdownAt: number | null;
  vbd: number;
  vif: number;
  /** MiB the domain holds (`memory`); absent in hosts saved before it was kept: 1024. */
  memoryMb?: number;
  /** The disk targets the domain has attached (absent in hosts saved before they were kept). */
  disks?: string[];
  /** Set once its getty has printed the login prompt on hvc0 (after the frontends connected). */
  login?: boolean;
};

export type SimHostState = {
  name: string;
  xenVersion: string;
  xenCaps: string[];
  virtCaps: string[];
  /** dom0 files, base64. */
  files: Record<string, string>;
  guests: Record<string, SimGuest>;
  domains: Record<string, SimDomain>;
  consoles: Record<string, string>;
  nextDomid: number;
  faults: SimHostFault[];
  /** Calls left during which the host does not answer. */
  downCalls: number;
  /** xl calls made on the host (saved with the next change, not on its own). */
  calls: number;
  /** dom0's disks by path, its volume groups and device-mapper targets, the host's RAM in MiB. */
  volumes?: Record<string, SimVolume>;
  vgs?: Record<string, SimVg>;
  dmTargets?: string[];
  totalMemoryMb?: number;
  /** How long a boot and a clean shutdown take, in ms. */
  bootMs: number;
  shutdownMs: number;
};

/** A host state plus where it is saved (null: memory only). */
export type SimHost = { state: SimHostState; file: string | null };

/** The generation of the state file (FILE.lock counts saves) each host's state was last read at or saved as. */
const seen = new WeakMap<SimHost, number>();

/** The text each host's state was last saved as or read from. */
const savedText = new WeakMap<SimHost, string>();

/**
 * Saves the host state atomically (temp file + rename), so a kill never leaves half a file; a
 * state unchanged since it was last saved or read is not written again (most xl calls only read,
 * and a synchronous write and rename on each of them held up everything else in the process).
 * Returns whether it wrote.
 */
export function saveSim(h: SimHost): boolean {
  if (h.file === null) return false;
  const text = changeText(h.state);
  if (savedText.get(h) === text) return false;
  writeFileSync(`${h.file}.tmp`, JSON.stringify(h.state));
  renameSync(`${h.file}.tmp`, h.file);
  savedText.set(h, text);
  return true;
}

/** The state as compared for a change: every call counts itself in `calls`, which alone is no change. */
function changeText(state: SimHostState): string {
  const { calls: _, ...rest } = state;
  return JSON.stringify(rest);
}


const locks = new Map<string, DatabaseSync>();

/**
 * Runs `fn` on the host's latest state with every other process's calls shut out, then saves it:
 * several pvhctl workers drive one simulated host as they would one real dom0. The lock is a
 * SQLite write transaction on FILE.lock, which the kernel releases if the holder is killed.
 */
export function withSimLock<T>(h: SimHost, fn: () => T): T {
  if (h.file === null) return fn();
  let lock = locks.get(h.file);
  if (lock === undefined) {
    lock = new DatabaseSync(`${h.file}.lock`);
    lock.exec('PRAGMA busy_timeout = 60000; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; CREATE TABLE IF NOT EXISTS gen (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL); INSERT OR IGNORE INTO gen VALUES (1, 0)');
    locks.set(h.file, lock);
  }
  lock.exec('BEGIN IMMEDIATE');
  const { n } = lock.prepare('SELECT n FROM gen').get() as { n: number };
  let before: string | undefined;
  try {
    // Reloaded only when another process saved since: this process's own changes stay as they are.
    if (seen.get(h) !== n) {
      h.state = JSON.parse(readFileSync(h.file, 'utf8')) as SimHostState;
      savedText.set(h, changeText(h.state));
      seen.set(h, n);
    }
    before = savedText.get(h);
    return fn();
  } finally {
    // A call that changed the state (even one that throws) saves it and starts a new generation,
    // so the other processes read it again; one that only read leaves the generation as it is.
    saveSim(h);
    if (savedText.get(h) !== before) {
      lock.exec('UPDATE gen SET n = n + 1; COMMIT');
      seen.set(h, n + 1);
    } else lock.exec('ROLLBACK');
  }
}

/** Loads a host saved by saveSim. */
export function loadSim(file: string): SimHost {
  return { state: JSON.parse(readFileSync(file, 'utf8')) as SimHostState, file };
}

export const bytesOf = (h: SimHost, path: string): Uint8Array | undefined => {
  const b = h.state.files[path];
  return b === undefined ? undefined : new Uint8Array(Buffer.from(b, 'base64'));
};
export const putBytes = (h: SimHost, path: string, content: Uint8Array): void => {
  h.state.files[path] = Buffer.from(content).toString('base64');
};

/** The Xenbus state a frontend shows at time `now`. */
export function frontendState(d: SimDomain, now: number): XenbusState {
  if (d.state === 'crashed') return 6;
  if (d.hung) return 1;
  return now >= d.readyAt ? 4 : 1;
}
