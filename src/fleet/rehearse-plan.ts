/**
 * The pure part of a rehearsal: the throwaway domain's name, how each disk is copied (an LVM
 * snapshot with a bounded CoW area, or a reflink copy), whether the volume groups and the host's
 * memory allow it, what a crash can have left behind (from the journal), and the words a customer
 * reads. The imperative shell is rehearse.ts.
 */
import { createHash } from 'node:crypto';
import { domainName, hostPath, REHEARSAL_PREFIX, type DiskBacking, type DomainName, type HostPath, type SnapshotSpec } from '../drivers/driver.ts';

export type RehearsalOptions = {
  /** MiB of the host's free memory a rehearsal must leave free (for dom0 and the running guests' growth). */
  reserveMb: number;
  /** The CoW area of an LVM snapshot: this share of the origin's size, within [cowMinBytes, cowMaxBytes]. */
  cowFraction: number;
  cowMinBytes: number;
  cowMaxBytes: number;
  /**
   * Test-boot even when the inspection verdict says the kernel cannot boot as PVH (as the switch's
   * --force; never the host's policy): the guest is not touched, and Xen's own answer is the point.
   */
  force: boolean;
};

/** A boot writes little (logs, a journal replay, package caches): a tenth of the disk, at most 16 GiB. */
export const DEFAULT_REHEARSAL: RehearsalOptions = { reserveMb: 1024, cowFraction: 0.1, cowMinBytes: 256 * 1024 ** 2, cowMaxBytes: 16 * 1024 ** 3, force: false };

/**
 * Rehearsal options from an operator's units (pvhctl.conf's rehearse section, `pvhctl rehearse`'s
 * flags): MiB of reserve, the CoW area in percent of the disk, its cap in GiB (the floor never
 * above the cap). What is not given is left out, so that it falls back to the next source.
 * @example
 * rehearsalOptions({ cowPercent: 25, cowMaxGib: 0.125 }) // => { cowFraction: 0.25, cowMaxBytes: 134217728, cowMinBytes: 134217728 }
 */
export function rehearsalOptions(o: { reserveMb?: number; cowPercent?: number; cowMaxGib?: number }): Partial<RehearsalOptions> {
  const max = o.cowMaxGib === undefined ? undefined : Math.round(o.cowMaxGib * 1024 ** 3);
  return {
    ...(o.reserveMb !== undefined ? { reserveMb: Math.round(o.reserveMb) } : {}),
    ...(o.cowPercent !== undefined ? { cowFraction: o.cowPercent / 100 } : {}),
    ...(max !== undefined ? { cowMaxBytes: max, cowMinBytes: Math.min(DEFAULT_REHEARSAL.cowMinBytes, max) } : {}),
  };
}

/** The rehearsal's steps in order, as journaled (`begin` before each acts). */
export const REHEARSAL_STEPS = ['plan', 'snapshot', 'write-config', 'create', 'verify', 'destroy', 'remove-snapshots'] as const;
export type RehearsalStep = (typeof REHEARSAL_STEPS)[number];

/** Why a guest cannot be rehearsed (nothing was made on the host). */
export type CannotRule =
  | 'refused' | 'busy' | 'host-busy' | 'name-taken' | 'no-dm-snapshot' | 'vg-full' | 'snapshot-of-snapshot' | 'not-snapshottable' | 'no-reflink' | 'memory' | 'config';
export type Cannot = { ok: false; rule: CannotRule; reason: string };

/**
 * Every rule a rehearsal that did not pass is recorded with (rehearsals.rule): why it could not
 * start, or the step that failed (`snapshot`, `write-config`, `create`, `verify`), or what went
 * wrong after the boot.
 */
export type RehearsalRule = CannotRule | 'host' | 'snapshot' | 'write-config' | 'create' | 'cleanup' | 'snapshot-full' | 'verify' | 'userland' | 'interrupted';

/**
 * Why a rehearsal did not pass, in a customer's words, by rule. The stored reason is for
 * operators (volume groups, dom0 paths, domain names); null: it is already a customer's sentence
 * (the switch's refusal, the verifier's words, the host's failure in words, the boot's outcome).
 */
const REHEARSAL_CUSTOMER: Record<RehearsalRule, string | null> = {
  refused: null,
  busy: 'another change to your server was in progress',
  'host-busy': 'its host was busy with other test boots and changes; it can be tried again later',
  'name-taken': 'the name its test copy needs is in use on its host; our team will look at it',
  'no-dm-snapshot': 'its host cannot make copies of its disks yet; our team will look at it',
  'vg-full': 'its host has no room for a copy of its disks right now',
  'snapshot-of-snapshot': 'its disk is itself a snapshot, which cannot be copied for a test boot',
  'not-snapshottable': 'its disks are of a kind that cannot be copied for a test boot',
  'no-reflink': 'its host cannot make copies of its disks',
  memory: 'its host has not enough free memory for a test boot right now',
  config: 'its settings could not be prepared for a test boot; our team will look at them',
  host: null,
  snapshot: null,
  'write-config': null,
  create: null,
  cleanup: 'the test copy could not be removed afterwards; our team has been alerted',
  'snapshot-full': null,
  verify: null,
  userland: null,
  interrupted: null,
};

const MiB = 1024 * 1024;

/**
 * The rehearsal domain's name: REHEARSAL_PREFIX + the guest's name, shortened with a hash when the
 * whole would pass 64 characters. Guests with this prefix are refused (cannot-rehearse), so it
 * never names a real guest.
 * @example
 * rehearsalName('web-01') // => 'pvhctl-rehearse-web-01'
 */
export function rehearsalName(guest: string): DomainName {
  const full = `${REHEARSAL_PREFIX}${guest}`;
  if (full.length <= 64) return domainName(full);
  const h = createHash('sha256').update(guest).digest('hex').slice(0, 8);
  return domainName(`${REHEARSAL_PREFIX}${guest.slice(0, 64 - REHEARSAL_PREFIX.length - 9)}-${h}`);
}

/**
 * Where the rehearsal's config is written: a hidden file beside the guest configs whose name the
 * scan skips (PVHCTL_FILE) and xendomains never starts.
 * @example
 * rehearsalConfigPath('/etc/xen', 'web-01') // => '/etc/xen/.pvhctl-rehearse-web-01.cfg'
 */
export function rehearsalConfigPath(configDir: string, guest: string): HostPath {
  return hostPath(`${configDir.replace(/\/+$/, '')}/.${rehearsalName(guest)}.cfg`);
}

/**
 * The CoW size of an LVM snapshot: `cowFraction` of the origin, bounded, never more than the
 * origin itself, rounded up to whole extents.
 * @example
 * cowBytes(10 * 1024 ** 3, 4 * 1024 ** 2, DEFAULT_REHEARSAL) // => 1073741824
 */
export function cowBytes(sizeBytes: number, extentBytes: number, o: RehearsalOptions): number {
  const want = Math.min(Math.max(Math.ceil(sizeBytes * o.cowFraction), o.cowMinBytes), o.cowMaxBytes, Math.max(sizeBytes, extentBytes));
  return Math.ceil(want / extentBytes) * extentBytes;
}

/**
 * How each of the guest's disks is copied, or why it cannot be: an LV needs dom0's dm snapshot
 * target and room in its volume group for every CoW area taken from it; a file gets a reflink copy
 * beside it; anything else cannot be rehearsed.
 * @example
 * planSnapshots('web', [{ backing: { kind: 'lv', vg: 'vg0', lv: 'web', ... }, vdev: 'xvda' }], ['snapshot'], DEFAULT_REHEARSAL)
 * // => { ok: true, snapshots: [{ method: 'lvm-snapshot', origin: '/dev/vg0/web', vg: 'vg0', name: 'pvhctl-rehearse-web-xvda', cowBytes: 1073741824, path: '/dev/vg0/pvhctl-rehearse-web-xvda' }] }
 */
export function planSnapshots(guest: string, disks: { backing: DiskBacking; vdev: string | null }[], dmTargets: string[], o: RehearsalOptions): { ok: true; snapshots: SnapshotSpec[] } | Cannot {
  const base = rehearsalName(guest);
  const snapshots: SnapshotSpec[] = [];
  const needs = new Map<string, { need: number; free: number; extent: number }>();
  for (const [i, { backing: b, vdev }] of disks.entries()) {
    const tag = /^[a-z0-9]{1,16}$/.test(vdev ?? '') ? vdev! : `disk${i}`;
    if (b.kind === 'other') {
      return { ok: false, rule: 'not-snapshottable', reason: `${b.path} is ${b.what}: pvhctl can test-boot only LVM volumes (through a snapshot) and image files on a filesystem with reflinks` };
    }
    if (b.kind === 'file') {
      snapshots.push({ method: 'reflink', origin: b.path, path: hostPath(`${b.path.slice(0, b.path.lastIndexOf('/'))}/${base}-${tag}.img`) });
      continue;
    }
    if (b.origin !== null) return { ok: false, rule: 'snapshot-of-snapshot', reason: `${b.path} is itself a snapshot of ${b.origin}, and LVM cannot snapshot a snapshot` };
    if (!dmTargets.includes('snapshot')) {
      return { ok: false, rule: 'no-dm-snapshot', reason: "dom0's kernel has no device-mapper snapshot target (`dmsetup targets` does not list snapshot): load the dm_snapshot module, then try again" };
    }
    const cow = cowBytes(b.sizeBytes, b.extentBytes, o);
    const v = needs.get(b.vg) ?? { need: 0, free: b.vgFreeExtents, extent: b.extentBytes };
    v.need += cow / b.extentBytes;
    needs.set(b.vg, v);
    const name = `${base}-${tag}`;
    snapshots.push({ method: 'lvm-snapshot', origin: b.path, vg: b.vg, name, cowBytes: cow, path: hostPath(`/dev/${b.vg}/${name}`) });
  }
  for (const [vg, v] of needs) {
    if (v.need > v.free) {
      const mib = (n: number) => Math.round((n * v.extent) / MiB);
      return { ok: false, rule: 'vg-full', reason: `volume group ${vg} has ${v.free} free extents (${mib(v.free)} MiB) and the snapshots need ${v.need} (${mib(v.need)} MiB)` };
    }
  }
  if (snapshots.length === 0) return { ok: false, rule: 'not-snapshottable', reason: 'the guest has no disk to test-boot' };
  return { ok: true, snapshots };
}

/**
 * Whether the host can hold the rehearsal: `needMb` out of `freeMb` (`xl info` free_memory), less
 * the reserve and what other rehearsals on the host are about to take.
 * @example
 * memoryCheck(1024, 1500, 1024, 0) // => { ok: false, rule: 'memory', reason: 'the test boot needs 1024 MiB; the host has 1500 MiB free, ...' }
 */
export function memoryCheck(needMb: number, freeMb: number, reserveMb: number, heldMb: number): { ok: true } | Cannot {
  const room = freeMb - reserveMb - heldMb;
  if (needMb <= room) return { ok: true };
  const held = heldMb > 0 ? `, ${heldMb} MiB held for other test boots` : '';
  return { ok: false, rule: 'memory', reason: `the test boot needs ${needMb} MiB; the host has ${freeMb} MiB free, ${reserveMb} MiB of which stay in reserve${held}` };
}

/**
 * What takes a host's slots when a rehearsal asks for one, from whatever process or machine runs
 * them: the other rehearsals past their check (the MiB each holds, and whether xl's free_memory
 * counted its domain when it was read) and the running switches, rollbacks and power operations.
 */
export type HostLoad = { host: string; maxParallel: number; rehearsals: { memoryMb: number; inFreeMemory: boolean }[]; operations: number };

/**
 * The host's slot and memory check for a test boot of `needMb`: refused while the host's limit
 * (max_parallel) is taken by test boots and switches, else memoryCheck with the memory the other
 * test boots hold and xl's free_memory did not yet count (a domain not yet made by xl create).
 * @example
 * hostRoom(1024, 4000, 1024, { host: 'xen1', maxParallel: 1, rehearsals: [], operations: 1 })
 * // => { ok: false, rule: 'host-busy', reason: 'cannot rehearse now: 1 test boot or switch already runs on xen1 (its limit is 1)' }
 */
export function hostRoom(needMb: number, freeMb: number, reserveMb: number, load: HostLoad): { ok: true } | Cannot {
  const busy = load.rehearsals.length + load.operations;
  const max = Math.max(1, load.maxParallel);
  if (busy >= max) {
    const what = busy === 1 ? '1 test boot or switch already runs' : `${busy} test boots or switches already run`;
    return { ok: false, rule: 'host-busy', reason: `cannot rehearse now: ${what} on ${load.host} (its limit is ${max})` };
  }
  const held = load.rehearsals.filter((r) => !r.inFreeMemory).reduce((n, r) => n + r.memoryMb, 0);
  return memoryCheck(needMb, freeMb, reserveMb, held);
}

/** What a rehearsal may have made on the host, read back from its journal after a crash. */
export type Stray = { snapshots: SnapshotSpec[]; configPath: HostPath | null; domain: DomainName | null };

/**
 * Everything a rehearsal journaled it was about to make (each `begin` carries it), so that recovery
 * can remove it whether or not it was made.
 * @example
 * strayOf([{ step: 'snapshot', phase: 'begin', detail: '{"method":"reflink",...}' }]) // => { snapshots: [{ method: 'reflink', ... }], configPath: null, domain: null }
 */
export function strayOf(entries: { step: string; phase: string; detail: string | null }[]): Stray {
  const out: Stray = { snapshots: [], configPath: null, domain: null };
  for (const e of entries) {
    if (e.phase !== 'begin' || e.detail === null) continue;
    if (e.step === 'snapshot') out.snapshots.push(parseSnapshot(e.detail));
    if (e.step === 'write-config') out.configPath = hostPath(e.detail);
    if (e.step === 'create') out.domain = domainName(e.detail);
  }
  return out;
}

/** A SnapshotSpec read back from the journal: every path and name checked again. */
function parseSnapshot(json: string): SnapshotSpec {
  const v = JSON.parse(json) as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof v[k] !== 'string') throw new Error(`journal: snapshot without ${k}`);
    return v[k] as string;
  };
  if (v.method === 'reflink') return { method: 'reflink', origin: hostPath(str('origin')), path: hostPath(str('path')) };
  if (v.method === 'lvm-snapshot' && typeof v.cowBytes === 'number') {
    return { method: 'lvm-snapshot', origin: hostPath(str('origin')), vg: str('vg'), name: str('name'), cowBytes: v.cowBytes, path: hostPath(str('path')) };
  }
  throw new Error('journal: unknown snapshot method');
}

/**
 * The guest's userland showing it is up, on the console written since the boot: a getty's login
 * prompt (`NAME login:`, as systemd's serial-getty on hvc0 prints it, with or without console=hvc0
 * on the kernel command line), or a program of the guest printing /sys/hypervisor/guest_type
 * (`guest_type=PVH`: Linux itself never prints this; the lab's guests' init does). Null: none yet.
 * @example
 * userlandSign('Debian GNU/Linux 12 web1 hvc0\r\n\r\nweb1 login: ') // => 'web1 login:'
 */
export function userlandSign(tail: string): string | null {
  const lines = tail.slice(-65536).split(/\r\n|\r|\n/).map((l) => l.replace(/\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x1f\x7f]/g, '').trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    const login = /^(\S{1,64} )?login:$/.exec(l);
    if (login) return l.slice(0, 80);
    const says = /\bguest_type[=:] ?(PVH|PV|HVM)\b/.exec(l);
    if (says) return says[0];
  }
  return null;
}

/**
 * What a customer reads about their server's last rehearsal.
 * @example
 * customerMessage({ status: 'passed', reason: null, updated_at: '2026-12-06T14:00:00Z' })
 * // => 'Your server was test-booted in PVH mode on a copy of its disk on 2026-12-06: it came up. Your server itself was not touched.'
 */
export function customerMessage(r: { status: string; reason: string | null; rule?: string | null; updated_at: string }): string {
  const date = r.updated_at.slice(0, 10);
  // A rule whose stored reason is operator detail gets its customer words; an unknown rule (a
  // newer writer) or none (an older one) shows the stored reason, as before.
  const words = r.rule != null && Object.hasOwn(REHEARSAL_CUSTOMER, r.rule) ? REHEARSAL_CUSTOMER[r.rule as RehearsalRule] : null;
  // Reasons from the switch's pre-check are whole sentences: one full stop is enough.
  const why = (words ?? r.reason ?? 'no reason was given').replace(/\.+$/, '');
  const untouched = 'Your server itself was not touched.';
  if (r.status === 'running') return 'Your server is being test-booted in PVH mode on a copy of its disk; it keeps running meanwhile.';
  if (r.status === 'passed') return `Your server was test-booted in PVH mode on a copy of its disk on ${date}: it came up. ${untouched}`;
  if (r.status === 'cannot-rehearse') return `Your server could not be test-booted in PVH mode on ${date}: ${why}. ${untouched}`;
  if (r.rule === 'interrupted') return `The test boot of your server in PVH mode on ${date} was interrupted before it finished; its copy was removed. ${untouched}`;
  return `Your server was test-booted in PVH mode on a copy of its disk on ${date}: it did not come up (${why}). ${untouched}`;
}
