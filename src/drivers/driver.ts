/**
 * The HostDriver interface: the dozen operations pvhctl needs from a Xen host, after libvirt's
 * driver table (src/driver-hypervisor.h). The switch state machine talks only to this interface;
 * `xl` locally, `xl` over SSH and the simulator each fill it in (src/drivers/xl/, src/drivers/sim/).
 *
 * Every name and path that reaches a driver has been through `domainName()` / `hostPath()`, so a
 * driver can put them on a command line without quoting guest-controlled text.
 */

/** A guest type as Xen runs it (`xl list -l` b_info.type); the PV shim shows as `pvh`. */
export type DomainType = 'pv' | 'pvh' | 'hvm';

/** `xl list` state flags, as one word; `absent` when the domain does not exist. */
export type DomainState = 'running' | 'blocked' | 'paused' | 'shutdown' | 'crashed' | 'dying';

/** What `xl info` says about the host. */
export type HostInfo = {
  host: string;
  xenVersion: string;
  /** `xen_caps`: the guest ABIs the hypervisor runs (`xen-3.0-x86_64`, `hvm-3.0-x86_32p`, ...). */
  xenCaps: string[];
  /** `virt_caps`: `pv`, `hvm`, `hap`, `shadow`, ... */
  virtCaps: string[];
};

/** One running domain from `xl list -l`. */
export type Domain = {
  name: string;
  domid: number;
  type: DomainType;
  /** PVH with the PV shim (b_info.type.pvh.pvshim). */
  pvshim: boolean;
  state: DomainState;
};

/**
 * xenbus states (xen/include/public/io/xenbus.h): 1 Initialising, 2 InitWait, 3 Initialised,
 * 4 Connected, 5 Closing, 6 Closed. A frontend at 4 means the guest kernel brought its driver up.
 */
export type XenbusState = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** The guest's PV frontends as xenstore shows them under /local/domain/DOMID/device/. */
export type Frontends = { vbd: XenbusState[]; vif: XenbusState[] };

/** Why a driver call failed: the host could not be reached, the thing is missing, or xl said no. */
export type DriverErrorKind = 'unreachable' | 'not-found' | 'failed' | 'invalid';

/**
 * What a failure was, recognised once where the host's tools are read (src/drivers/xl/failure.ts
 * for xl, lvcreate and cp; the simulator says it directly), so that nothing above the driver reads
 * an error's message to tell failures apart:
 * - `no-pvh-entry`: the kernel has no PVH entry point (libxl: "not capable of booting inside a HVM container");
 * - `no-pv-loader`: the kernel is not a Xen PV kernel (libxc: "no loader found");
 * - `abi-unsupported`: the host's Xen does not run the kernel's PV ABI (xen-3.0-x86_32p not in xen_caps);
 * - `no-hvm`: the host has no hardware virtualisation for an HVM container;
 * - `pci-passthrough`: libxl refuses the guest's PCI devices in PVH mode;
 * - `domain-exists`: a domain of that name already runs;
 * - `config-changed`: the file changed since it was read (writeConfig's `expect`);
 * - `no-dm-snapshot`, `vg-full`: lvcreate --snapshot: no dm snapshot target, no room in the volume group;
 * - `no-reflink`: cp --reflink=always: the filesystem cannot clone files.
 */
export type DriverFailure =
  | 'no-pvh-entry'
  | 'no-pv-loader'
  | 'abi-unsupported'
  | 'no-hvm'
  | 'pci-passthrough'
  | 'domain-exists'
  | 'config-changed'
  | 'no-dm-snapshot'
  | 'vg-full'
  | 'no-reflink';

export class DriverError extends Error {
  readonly kind: DriverErrorKind;
  /** What the failure was, when the driver recognised it; null otherwise. */
  readonly failure: DriverFailure | null;
  constructor(kind: DriverErrorKind, message: string, failure: DriverFailure | null = null) {
    super(message);
    this.kind = kind;
    this.failure = failure;
  }
}

/**
 * What an error says about its failure: its kind and failure when a driver threw it, else unknown.
 * @example
 * failureOf(new DriverError('unreachable', 'xen1: connection refused')) // => { kind: 'unreachable', failure: null }
 */
export function failureOf(err: unknown): { kind: DriverErrorKind | 'other'; failure: DriverFailure | null } {
  return err instanceof DriverError ? { kind: err.kind, failure: err.failure } : { kind: 'other', failure: null };
}

/** A validated domain name (see `domainName`). */
export type DomainName = string & { readonly __domainName: unique symbol };
/** A validated absolute path on the host (see `hostPath`). */
export type HostPath = string & { readonly __hostPath: unique symbol };

// xl accepts more, but every name pvhctl acts on must be safe on a command line and in a path.
const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PATH_PART = /^[A-Za-z0-9_.][A-Za-z0-9_.+@,=-]{0,254}$/;

/**
 * Parses a domain name: 1–64 of `A-Z a-z 0-9 _ . -`, not starting with a punctuation mark.
 * @example
 * domainName('web-01') // => 'web-01'
 * domainName('x; rm -rf /') // throws DriverError 'invalid'
 */
export function domainName(s: string): DomainName {
  if (!DOMAIN_NAME.test(s)) throw new DriverError('invalid', `invalid domain name ${JSON.stringify(s.slice(0, 80))}`);
  return s as DomainName;
}

/**
 * Parses an absolute host path whose parts are plain names (no `..`, no shell characters).
 * @example
 * hostPath('/etc/xen/web-01.cfg') // => '/etc/xen/web-01.cfg'
 * hostPath('/etc/xen/../shadow') // throws DriverError 'invalid'
 */
export function hostPath(s: string): HostPath {
  const parts = s.split('/');
  const ok = s.length <= 4096 && s.startsWith('/') && parts.slice(1).every((p) => PATH_PART.test(p) && p !== '..' && p !== '.');
  if (!ok) throw new DriverError('invalid', `invalid host path ${JSON.stringify(s.slice(0, 120))}`);
  return s as HostPath;
}

/**
 * The name under which a replaced config is kept beside the new one: `PATH.pvhctl-YYYYMMDDTHHMMSSZ`,
 * as src/util/atomic.ts names it (a `.N` is added when that name is taken).
 * @example
 * keptName('/etc/xen/web.cfg', new Date('2026-11-24T20:15:00.123Z')) // => '/etc/xen/web.cfg.pvhctl-20261124T201500Z'
 */
export function keptName(path: string, now: Date, n = 0): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${path}.pvhctl-${stamp}${n === 0 ? '' : `.${n}`}`;
}

/** Files pvhctl leaves beside configs (kept versions, temp files): never guest configs themselves. */
export const PVHCTL_FILE = /\.pvhctl-[^/]*$|\/\.[^/]*\.pvhctl-[^/]*\.tmp$/;

/**
 * An attached guest console (`xl console NAME` on a terminal): the guest's output as it comes,
 * keystrokes to the guest. Closing it detaches; the guest runs on.
 */
export type ConsoleChannel = {
  onData(fn: (chunk: Uint8Array) => void): void;
  /** Called once when the console goes away (detached, domain gone, connection lost). */
  onClose(fn: () => void): void;
  write(bytes: Uint8Array): void;
  close(): void;
};

/** Read-only random access to a disk on a host. `read` may throw DriverError. */
export type BlockReader = {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Ends the reader; resolves once the host side is gone. */
  close(): Promise<void>;
};

/** The start of every name pvhctl gives a rehearsal's domain, snapshots and config file. */
export const REHEARSAL_PREFIX = 'pvhctl-rehearse-';

/** How dom0 holds a guest disk, which decides how a rehearsal can copy it. */
export type DiskBacking =
  /**
   * An LVM logical volume (`lvs`); `origin` is set when it is itself a snapshot, `invalid` when
   * that snapshot's CoW area filled up and device-mapper dropped it (its origin is unaffected).
   */
  | { kind: 'lv'; path: HostPath; vg: string; lv: string; sizeBytes: number; extentBytes: number; vgFreeExtents: number; origin: string | null; invalid: boolean }
  /** A regular file (a raw image). */
  | { kind: 'file'; path: HostPath; sizeBytes: number }
  /** Anything else (a partition, a multipath or iSCSI device, a missing path): `what` says which. */
  | { kind: 'other'; path: HostPath; what: string };

/**
 * A copy-on-write copy of a guest disk made for a rehearsal: an LVM snapshot LV in the origin's
 * volume group with a bounded CoW area, or a reflink copy of an image file (same filesystem).
 * Its name always starts with REHEARSAL_PREFIX: drivers refuse to remove anything else.
 */
export type SnapshotSpec =
  | { method: 'lvm-snapshot'; origin: HostPath; vg: string; name: string; cowBytes: number; path: HostPath }
  | { method: 'reflink'; origin: HostPath; path: HostPath };

/** Checks that a snapshot (or rehearsal file) is one pvhctl names, before anything removes it. */
export function isRehearsalPath(path: string): boolean {
  return path.slice(path.lastIndexOf('/') + 1).replace(/^\./, '').startsWith(REHEARSAL_PREFIX);
}
/**
 * What a config directory holds: its regular files, and the entries skipped with the reason. A
 * symbolic link is never followed (it could name any file on the host, /etc/shadow included, and a
 * config's text ends up in reports), only named in the scan report.
 */
export type ConfigListing = { files: HostPath[]; skipped: { path: HostPath; why: 'symlink' }[] };

/**
 * A guest's kernel as a driver that knows it without reading the guest's disks says it is: the
 * simulator (as libvirt's test driver knows its domains). xl hosts do not know; pvhctl inspects.
 */
export type KnownKernel = { arch: 'x86_64' | 'x86_32p'; pv: boolean; pvh: boolean; version: string | null };

/** The operations a host driver provides. All may throw DriverError. */
export type HostDriver = {
  readonly name: string;
  /** `xl info`: version and capabilities. */
  info(): Promise<HostInfo>;
  /** `xl list -l`: the domains that exist now (Domain-0 left out). */
  listDomains(): Promise<Domain[]>;
  /** One domain, or null when it does not exist. */
  domain(name: DomainName): Promise<Domain | null>;
  /** The regular files directly in a config directory, and the symbolic links there (never followed). */
  listConfigs(dir: HostPath): Promise<ConfigListing>;
  /** A file's bytes; refuses files larger than `maxBytes`. */
  readFile(path: HostPath, maxBytes: number): Promise<Uint8Array>;
  /**
   * Opens a guest disk (image file or block device) on the host for random-access reads, so
   * that pvhctl can inspect it where pvhctl runs while moving only the blocks it reads.
   */
  openDisk(path: HostPath): Promise<BlockReader>;
  /**
   * Replaces a config atomically (temp file, fsync, rename), keeping the old one beside it
   * (`keptName`). With `expect`, refuses when the file no longer holds those bytes (edited since
   * it was read).
   */
  writeConfig(path: HostPath, content: Uint8Array, expect?: Uint8Array): Promise<void>;
  /** `xl shutdown -w` with a time limit: 'stopped' once the domain is gone, 'timeout' if not. */
  shutdown(name: DomainName, timeoutMs: number): Promise<'stopped' | 'timeout'>;
  /** `xl destroy`: the domain is gone afterwards (no error if it already was). */
  destroy(name: DomainName): Promise<void>;
  /** `xl create PATH`: starts the domain from its config file. */
  create(path: HostPath): Promise<void>;
  /** The XenbusState of the domain's vbd and vif frontends (xenstore-read). */
  frontends(domid: number): Promise<Frontends>;
  /** The last `maxBytes` of the guest's console log (xenconsoled --log=guest), '' when none. */
  consoleTail(name: DomainName, maxBytes: number): Promise<string>;
  /**
   * Attaches to the guest's console, interactively (`xl console`). Optional: a driver without it
   * offers only consoleTail, and the Xen Shell then shows the console read-only.
   */
  console?(name: DomainName): Promise<ConsoleChannel>;
  /** `xl info` free_memory: MiB the hypervisor can still give to a new domain. */
  freeMemory(): Promise<number>;
  /**
   * `dmsetup targets`: the device-mapper targets dom0's kernel has (an LVM snapshot needs
   * `snapshot`), with `snapshot` also when it is not loaded but `modprobe -n dm-snapshot` finds its
   * module (lvcreate loads it).
   */
  dmTargets(): Promise<string[]>;
  /**
   * How dom0 holds a disk: `lvs -o vg_name,lv_name,lv_size,vg_extent_size,vg_free_count,origin PATH`
   * for an LV (with its volume group's free extents), `stat -L` for anything else.
   */
  diskBacking(path: HostPath): Promise<DiskBacking>;
  /**
   * Makes a rehearsal snapshot: `lvcreate --snapshot --name NAME --size COWb ORIGIN`, or
   * `cp --reflink=always ORIGIN PATH` (fails, never copies, on a filesystem without reflinks).
   */
  snapshotDisk(s: SnapshotSpec): Promise<void>;
  /**
   * Removes a rehearsal snapshot: `lvremove -f VG/NAME` (only an LV that is a snapshot) or
   * `rm -f PATH`. No error when it is already gone; refuses a name without REHEARSAL_PREFIX.
   */
  removeSnapshot(s: SnapshotSpec): Promise<void>;
  /** `rm -f PATH` for a file pvhctl wrote beside configs (PVHCTL_FILE names only); no error when absent. */
  removeFile(path: HostPath): Promise<void>;
  /**
   * `rm -f /var/log/xen/console/guest-NAME.log` for a rehearsal domain that is not running
   * (REHEARSAL_PREFIX names only; no error when absent): xenconsoled appends every boot of a name
   * to one log, and two test boots of a stock guest print the same text byte for byte (its PVH
   * GRUB menu, its getty), so only an empty log tells this boot's text from the last one's.
   */
  clearConsoleLog(name: DomainName): Promise<void>;
  /** Checks that the host answers (a cheap round trip); throws 'unreachable' when not. */
  probe(): Promise<void>;
  /**
   * Optional: the guest's kernel, when the driver knows it without inspection (the simulator);
   * null for a guest it does not know. Without it, pvhctl inspects the guest's kernel and disks.
   */
  knownKernel?(name: DomainName): Promise<KnownKernel | null>;
  /** Optional: the customer a guest belongs to, when the host records it (the simulator's fleet). */
  guestOwner?(name: DomainName): Promise<string | null>;
  close(): Promise<void>;
};
