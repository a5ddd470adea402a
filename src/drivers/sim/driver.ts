/**
 * HostDriver over a simulated host (world.ts). It answers as xl would, with xl's own error
 * messages, so the switch logic and its rollback can be tested on thousands of guests.
 */
import { DriverError, type DriverFailure, isRehearsalPath, PVHCTL_FILE, REHEARSAL_PREFIX, type ConsoleChannel, type DiskBacking, type Domain, type DomainName, type DomainType, type HostDriver, type HostPath, keptName, type SnapshotSpec } from '../driver.ts';
import { modelOf } from '../../xlcfg/model.ts';
import { effectiveSettings, parseXlConfig } from '../../xlcfg/parser.ts';
import { bytesOf, frontendState, putBytes, saveSim, withSimLock, type SimDomain, type SimGuest, type SimHost } from './world.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How the simulated xl reads a config: with the real lossless parser (src/xlcfg/), only the keys
 * that decide how the simulated domain boots; a config xl would refuse gives null.
 */
export function simReadConfig(
  text: string,
): { name: string | null; type: DomainType; pvshim: boolean; kernel: string | null; memoryMb: number; disks: string[]; vifs: number } | null {
  const r = parseXlConfig(text, 'sim');
  if (!r.ok) return null;
  const s = effectiveSettings(r.config);
  const m = modelOf(r.config);
  const disks = m.disks.flatMap((d) => (d.result.ok && d.result.disk.target !== null ? [d.result.disk.target] : []));
  const memoryMb = m.memory !== null && m.memory.ok ? m.memory.value : 128;
  const get = (k: string) => {
    const v = s.get(k)?.value;
    return typeof v === 'string' ? v : null;
  };
  const t = get('type') ?? (get('builder') === 'hvm' ? 'hvm' : 'pv');
  // xl prefix-matches type in the order hvm, pv, pvh (xen-facts.md).
  const type: DomainType = 'hvm'.startsWith(t) ? 'hvm' : t === 'pvh' ? 'pvh' : 'pv';
  return { name: get('name'), type, pvshim: type === 'pvh' && /^[1-9]/.test(get('pvshim') ?? '0'), kernel: get('kernel'), memoryMb, disks, vifs: m.vifs.length };
}

/** Applies host faults and time: finished shutdowns disappear; a rebooted host restarts its guests. */
function tick(h: SimHost): void {
  const s = h.state;
  s.calls++;
  const now = Date.now();
  for (const f of s.faults) {
    if (f.kind === 'host-reboot' && f.afterCalls > 0 && --f.afterCalls === 0) {
      s.domains = {};
      s.downCalls = f.downCalls;
      // xendomains brings back every guest from its config file when the host returns.
      for (const g of Object.values(s.guests)) bootFromConfig(h, g.configPath, now + 0);
    }
  }
  for (const [name, d] of Object.entries(s.domains)) {
    if (d.shutdownAt !== null && now >= d.shutdownAt) delete s.domains[name];
  }
  const lost = s.faults.find((f) => f.kind === 'lost-connection' && f.calls > 0);
  if (lost && lost.kind === 'lost-connection') {
    lost.calls--;
    saveSim(h);
    throw new DriverError('unreachable', `${s.name}: connection lost`);
  }
  if (s.downCalls > 0) {
    s.downCalls--;
    saveSim(h);
    throw new DriverError('unreachable', `${s.name}: connection refused (host rebooting)`);
  }
}

/**
 * The simulated `xl console`: what the guest writes to its console from now on, and a getty that
 * echoes what is typed and answers Enter with a login prompt.
 */
function simConsole(h: SimHost, name: string, pollMs: number): ConsoleChannel {
  if (h.state.domains[name] === undefined) throw new DriverError('failed', `xl console ${name}: ${name} is an invalid domain identifier`);
  let seen = (h.state.consoles[name] ?? '').length;
  const domid = h.state.domains[name].domid;
  let closed = false;
  const data: ((b: Uint8Array) => void)[] = [];
  const closers: (() => void)[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    for (const fn of closers.splice(0)) fn();
  };
  const noLock = h.state.faults.find((f) => f.kind === 'no-var-lock');
  if (noLock !== undefined && noLock.kind === 'no-var-lock') {
    // As xenconsole does: it cannot lock /var/lock/xenconsole.DOMID, says so on its terminal, exits 1.
    const t = setTimeout(() => {
      const said = new TextEncoder().encode(`xenconsole: Could not open /var/lock/xenconsole.${domid}: No such file or directory\r\n`);
      for (const fn of data) fn(said);
      closed = true;
      for (const fn of closers.splice(0)) fn();
    }, noLock.ms);
    return {
      onData: (fn) => data.push(fn),
      onClose: (fn) => (closed ? fn() : closers.push(fn)),
      write: () => {},
      close: () => {
        clearTimeout(t);
        closed = true;
        for (const fn of closers.splice(0)) fn();
      },
    };
  }
  const timer = setInterval(() => {
    const log = h.state.consoles[name] ?? '';
    if (log.length < seen) seen = 0; // the log was trimmed from the front: resend what is there
    if (log.length > seen) {
      const chunk = new TextEncoder().encode(log.slice(seen));
      seen = log.length;
      for (const fn of data) fn(chunk);
    }
    if (h.state.domains[name]?.domid !== domid) close(); // xl console ends with its domain
  }, Math.max(5, Math.min(pollMs, 100)));
  return {
    onData: (fn) => data.push(fn),
    onClose: (fn) => (closed ? fn() : closers.push(fn)),
    write: (bytes) => {
      if (closed) return;
      const text = new TextDecoder().decode(bytes).replace(/[^\x20-\x7e\r]/g, '');
      consoleAppend(h, name, text.replace(/\r/g, `\r\n${name} login: `));
    },
    close,
  };
}

function consoleAppend(h: SimHost, name: string, text: string): void {
  const prev = h.state.consoles[name] ?? '';
  h.state.consoles[name] = (prev + text).slice(-65536);
}

/** Once a guest is up (frontends connected), its getty prints the login prompt on hvc0, as systemd's does. */
function loginPrompt(h: SimHost, name: string, now: number): void {
  const d = h.state.domains[name];
  if (d === undefined || d.state === 'crashed' || d.hung || d.login === true || now < d.readyAt) return;
  d.login = true;
  consoleAppend(h, name, `\n\nDebian GNU/Linux 12 ${name} hvc0\n\n${name} login: `);
}

/** Why `xl create` failed, as xl says it, and what the failure was (the simulator knows it). */
type BootError = { why: string; failure: DriverFailure | null };
const no = (why: string, failure: DriverFailure | null = null): BootError => ({ why, failure });

/** Boots a domain from its config the way `xl create` would; returns xl's error on failure. */
function bootFromConfig(h: SimHost, path: string, now: number): BootError | null {
  const s = h.state;
  const bytes = bytesOf(h, path);
  if (bytes === undefined) return no(`Failed to read config file: ${path}: No such file or directory`);
  const cfg = simReadConfig(Buffer.from(bytes).toString('latin1'));
  if (cfg === null) return no(`${path}: config parsing error`);
  if (cfg.name === null) return no(`${path}: domain name must be specified`);
  if (s.domains[cfg.name]) return no(`domain ${cfg.name} already exists`, 'domain-exists');
  // A domain boots what is on its disks: a guest's own, or a snapshot or reflink copy of them.
  const g = s.guests[cfg.name] ?? guestOfDisks(h, cfg.disks);
  if (g === undefined) return no(`${cfg.name}: disk not found`);
  for (const disk of cfg.disks) {
    if (s.volumes !== undefined && s.volumes[disk] === undefined && disk.startsWith('/dev/')) return no(`libxl: device ${disk} does not exist`);
    const user = Object.values(s.domains).find((d) => d.disks?.includes(disk));
    // blkback refuses a block device another domain has open for writing.
    if (user !== undefined) return no(`libxl: disk ${disk} is already in use by domain ${user.domid} (${user.name})`);
  }
  const free = freeMemoryMb(h);
  if (cfg.memoryMb > free) return no(`libxl: failed to allocate ${cfg.memoryMb} MiB: only ${free} MiB free`);
  const k = g.kernel;
  const boot = cfg.type === 'pvh' && cfg.pvshim ? 'pv' : cfg.type;
  if (cfg.type !== 'pv' && !s.virtCaps.includes('hvm')) return no('xc_dom_boot_xen_init: hvm not supported by this host', 'no-hvm');
  if (boot === 'pv' && k.arch === 'x86_32p' && cfg.type === 'pv' && !s.xenCaps.includes('xen-3.0-x86_32p')) {
    return no('xc_dom_compat_check: guest type xen-3.0-x86_32p not supported by xen kernel, sorry', 'abi-unsupported');
  }
  let crash: string | null = null;
  if (boot === 'pvh' && !k.pvh) {
    if (g.boot === 'direct') return no('xc_dom_guest_type: image not capable of booting inside a HVM container', 'no-pvh-entry');
    crash = 'error: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY.\n';
  }
  if (boot === 'pv' && !k.pv) {
    if (g.boot === 'direct') return no('xc_dom_find_loader: no loader found', 'no-pv-loader');
    crash = 'error: not a Xen PV kernel.\n';
  }
  const fault = g.faults.find((f) => (f.kind === 'panic' || f.kind === 'hang') && f.count > 0 && (f.onType === undefined || f.onType === cfg.type));
  let hung = false;
  let quiet = false;
  // Booted from a snapshot whose CoW area overflows: the snapshot goes invalid, the boot hangs on I/O errors.
  const full = s.guests[cfg.name] === undefined ? g.faults.find((f) => f.kind === 'snapshot-full' && f.count > 0) : undefined;
  if (full !== undefined) {
    full.count--;
    hung = true;
    for (const disk of cfg.disks) {
      const v = s.volumes?.[disk];
      if (v?.kind === 'lv' && v.origin !== null) v.invalid = true;
    }
  }
  if (fault && (fault.kind === 'panic' || fault.kind === 'hang')) {
    fault.count--;
    if (fault.kind === 'panic' && fault.silent === true) hung = quiet = true;
    else if (fault.kind === 'panic') crash = 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n';
    else hung = true;
  }
  const d: SimDomain = {
    name: cfg.name,
    domid: s.nextDomid++,
    type: cfg.type,
    pvshim: cfg.pvshim,
    state: crash !== null ? 'crashed' : 'running',
    readyAt: now + s.bootMs,
    hung,
    shutdownAt: null,
    vbd: Math.max(1, cfg.disks.length),
    vif: cfg.vifs,
    memoryMb: cfg.memoryMb,
    disks: cfg.disks,
  };
  const noGetty = g.faults.find((f) => f.kind === 'no-getty' && f.count > 0 && (f.onType === undefined || f.onType === cfg.type));
  if (noGetty !== undefined && crash === null && !hung) {
    noGetty.count--;
    d.login = true; // as if printed: it never will be
  }
  s.domains[cfg.name] = d;
  // Linux names its own mode early in boot (pv_info.name): "Xen" for PV (also inside the shim), "Xen PVH", "Xen HVM".
  const pvInfo = cfg.type === 'pvh' && !cfg.pvshim ? 'Xen PVH' : cfg.type === 'hvm' ? 'Xen HVM' : 'Xen';
  if (!quiet) consoleAppend(h, cfg.name, `[    0.000000] Linux version 6.1.0 (booting as ${cfg.type}${cfg.pvshim ? ' under the PV shim' : ''})\n${crash !== null && crash.startsWith('error:') ? '' : `[    0.000000] Booting paravirtualized kernel on ${pvInfo}\n`}${crash ?? ''}`);
  return null;
}

/** The guest whose disk a snapshot or reflink copy was made from. */
function guestOfDisks(h: SimHost, disks: string[]): SimGuest | undefined {
  const vols = h.state.volumes ?? {};
  for (const disk of disks) {
    const v = vols[disk];
    const origin = v === undefined ? null : v.kind === 'lv' ? (v.origin === null ? null : `/dev/${v.vg}/${v.origin}`) : v.copyOf;
    if (origin === null) continue;
    for (const g of Object.values(h.state.guests)) {
      const cfg = simReadConfig(Buffer.from(bytesOf(h, g.configPath) ?? new Uint8Array()).toString('latin1'));
      if (cfg?.disks.includes(origin)) return g;
    }
  }
  return undefined;
}

/** RAM not held by a domain (dom0's share is outside totalMemoryMb). */
function freeMemoryMb(h: SimHost): number {
  const total = h.state.totalMemoryMb ?? 1024 * 1024;
  return total - Object.values(h.state.domains).reduce((n, d) => n + (d.memoryMb ?? 1024), 0);
}

function simBacking(h: SimHost, path: HostPath): DiskBacking {
  const v = h.state.volumes?.[path];
  if (v === undefined) return { kind: 'other', path, what: `not found on the host (stat: cannot statx '${path}': No such file or directory)` };
  if (v.kind === 'file') return { kind: 'file', path, sizeBytes: v.sizeBytes };
  const vg = h.state.vgs?.[v.vg] ?? { extentBytes: 4 * 1024 * 1024, freeExtents: 0 };
  return {
    kind: 'lv', path, vg: v.vg, lv: path.slice(path.lastIndexOf('/') + 1), sizeBytes: v.sizeBytes, extentBytes: vg.extentBytes, vgFreeExtents: vg.freeExtents,
    origin: v.origin, invalid: v.invalid === true,
  };
}

/** `lvcreate --snapshot` or `cp --reflink=always`, with their own error messages. */
function simSnapshot(h: SimHost, sp: SnapshotSpec): void {
  const vols = (h.state.volumes ??= {});
  const o = vols[sp.origin];
  if (!isRehearsalPath(sp.path)) throw new DriverError('invalid', `${sp.path}: not a rehearsal snapshot name`);
  if (sp.method === 'reflink') {
    if (o === undefined || o.kind !== 'file') throw new DriverError('failed', `cp: cannot stat '${sp.origin}': No such file or directory`);
    if (!o.reflink) throw new DriverError('failed', `cp --reflink=always ${sp.origin} ${sp.path}: cp: failed to clone '${sp.path}' from '${sp.origin}': Operation not supported`, 'no-reflink');
    vols[sp.path] = { kind: 'file', sizeBytes: o.sizeBytes, reflink: true, copyOf: sp.origin };
    return;
  }
  const argv = `lvcreate --snapshot --name ${sp.name} --size ${sp.cowBytes}b ${sp.origin}`;
  if (o === undefined || o.kind !== 'lv') throw new DriverError('failed', `${argv}: Failed to find logical volume "${sp.origin}"`);
  if (!(h.state.dmTargets ?? []).includes('snapshot')) throw new DriverError('failed', `${argv}: snapshot: Required device-mapper target(s) not detected in your kernel.`, 'no-dm-snapshot');
  if (vols[sp.path] !== undefined) throw new DriverError('failed', `${argv}: Logical Volume "${sp.name}" already exists in volume group "${sp.vg}"`);
  const vg = h.state.vgs?.[o.vg];
  const need = Math.ceil(sp.cowBytes / (vg?.extentBytes ?? 4 * 1024 * 1024));
  if (vg === undefined || vg.freeExtents < need) throw new DriverError('failed', `${argv}: Volume group "${o.vg}" has insufficient free space (${vg?.freeExtents ?? 0} extents): ${need} required.`, 'vg-full');
  vg.freeExtents -= need;
  vols[sp.path] = { kind: 'lv', vg: o.vg, sizeBytes: o.sizeBytes, origin: sp.origin.slice(sp.origin.lastIndexOf('/') + 1), cowBytes: need * vg.extentBytes };
}

function simRemoveSnapshot(h: SimHost, sp: SnapshotSpec): void {
  if (!isRehearsalPath(sp.path)) throw new DriverError('invalid', `${sp.path}: not a rehearsal snapshot name; not removed`);
  const v = h.state.volumes?.[sp.path];
  if (v === undefined) return;
  const user = Object.values(h.state.domains).find((d) => d.disks?.includes(sp.path));
  if (user !== undefined) throw new DriverError('failed', `lvremove ${sp.path}: Logical volume ${sp.path} in use.`);
  if (v.kind === 'lv') {
    if (v.origin === null) throw new DriverError('invalid', `${sp.path}: not a snapshot LV; not removed`);
    const vg = h.state.vgs?.[v.vg];
    if (vg !== undefined) vg.freeExtents += Math.ceil(v.cowBytes / vg.extentBytes);
  }
  delete h.state.volumes![sp.path];
}

const asDomain = (d: SimDomain): Domain => ({ name: d.name, domid: d.domid, type: d.type, pvshim: d.pvshim, state: d.state });

/**
 * A HostDriver over one simulated host; every change is saved before the call returns.
 * @example
 * const d = simDriver(makeSimHost({ name: 'sim1', guests: 3, seed: 1 }));
 * (await d.listDomains()).length // => 3
 */
export function simDriver(h: SimHost, opts: { pollMs?: number } = {}): HostDriver {
  const d = simDriverOf(h, opts);
  SIMULATED.set(d, h);
  return d;
}

/** The simulated host behind each sim driver, for tests that inject faults or look at its state. */
const SIMULATED = new WeakMap<HostDriver, SimHost>();

/**
 * The simulated host behind a driver, or null when the driver is not the simulator's.
 * @example
 * simOf(fleet.hosts.driverFor(host))!.state.domains['web1'] // => { name: 'web1', domid: 3, type: 'pv', ... }
 */
export function simOf(d: HostDriver): SimHost | null {
  return SIMULATED.get(d) ?? null;
}

function simDriverOf(h: SimHost, opts: { pollMs?: number }): HostDriver {
  const pollMs = opts.pollMs ?? 2;
  const s = () => h.state;
  // withSimLock saves what the call changed (even when it throws); a host kept in memory only
  // has nothing to save.
  const call = <T>(fn: () => T): T =>
    withSimLock(h, () => {
      tick(h);
      return fn();
    });
  const domain = (n: string) => {
    const d = s().domains[n];
    return d === undefined ? null : asDomain(d);
  };
  return {
    name: h.state.name,
    info: async () => call(() => ({ host: s().name, xenVersion: s().xenVersion, xenCaps: [...s().xenCaps], virtCaps: [...s().virtCaps] })),
    listDomains: async () => call(() => Object.values(s().domains).map(asDomain)),
    domain: async (n: DomainName) => call(() => domain(n)),
    knownKernel: async (n: DomainName) => {
      const k = s().guests[n]?.kernel;
      // A kernel version as Debian's would be: one with PVH support, or one from before it.
      return k === undefined ? null : { arch: k.arch, pv: k.pv, pvh: k.pvh, version: k.pvh ? '6.1.0-26-amd64' : '4.9.0-19-amd64' };
    },
    guestOwner: async (n: DomainName) => s().guests[n]?.owner ?? null,
    listConfigs: async (dir: HostPath) =>
      call(() => ({
        files: Object.keys(s().files)
          .filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/'))
          .sort() as HostPath[],
        skipped: [],
      })),
    readFile: async (path: HostPath, maxBytes: number) =>
      call(() => {
        const b = bytesOf(h, path);
        if (b === undefined) throw new DriverError('not-found', `${path}: no such file`);
        if (b.length > maxBytes) throw new DriverError('invalid', `${path}: over the ${maxBytes}-byte limit`);
        return b;
      }),
    openDisk: async (path: HostPath) => {
      throw new DriverError('invalid', `${path}: simulated guests have no disk bytes (the simulator knows their kernels)`);
    },
    writeConfig: async (path: HostPath, content: Uint8Array, expect?: Uint8Array) =>
      call(() => {
        const old = bytesOf(h, path);
        if (expect !== undefined && (old === undefined || !Buffer.from(old).equals(Buffer.from(expect)))) {
          throw new DriverError('failed', `${path}: changed since it was read; not replaced`, 'config-changed');
        }
        if (old !== undefined) {
          let n = 0;
          while (h.state.files[keptName(path, new Date(), n)] !== undefined) n++;
          putBytes(h, keptName(path, new Date(), n), old);
        }
        putBytes(h, path, content);
      }),
    async shutdown(n: DomainName, limitMs: number) {
      // When the domain is due to be gone (null: it is gone already).
      const due = call(() => {
        const d = s().domains[n];
        if (d === undefined) return null;
        if (d.state !== 'crashed' && d.shutdownAt === null) {
          const slow = s().guests[n]?.faults.find((f) => f.kind === 'slow-shutdown' && f.count > 0);
          let ms = s().shutdownMs;
          if (slow && slow.kind === 'slow-shutdown') {
            slow.count--;
            ms = slow.ms;
          }
          d.shutdownAt = Date.now() + ms;
        }
        return d.shutdownAt ?? Date.now();
      });
      if (due === null) return 'stopped';
      const deadline = Date.now() + limitMs;
      for (;;) {
        if (call(() => domain(n)) === null) return 'stopped';
        if (Date.now() >= deadline) return 'timeout';
        // Asleep until the shutdown is due, then polled: every poll takes the host's lock, and
        // polling every pollMs through a guest's whole shutdown starved a worker driving hundreds.
        await sleep(Math.min(Math.max(pollMs, due - Date.now()), Math.max(1, deadline - Date.now())));
      }
    },
    destroy: async (n: DomainName) =>
      call(() => {
        delete s().domains[n];
      }),
    create: async (path: HostPath) =>
      call(() => {
        const err = bootFromConfig(h, path, Date.now());
        if (err !== null) throw new DriverError('failed', `xl create ${path}: ${err.why}`, err.failure);
      }),
    frontends: async (domid: number) =>
      call(() => {
        const d = Object.values(s().domains).find((x) => x.domid === domid);
        if (d === undefined) return { vbd: [], vif: [] };
        const st = frontendState(d, Date.now());
        return { vbd: Array(d.vbd).fill(st), vif: Array(d.vif).fill(st) };
      }),
    consoleTail: async (n: DomainName, maxBytes: number) =>
      call(() => {
        loginPrompt(h, n, Date.now());
        return (s().consoles[n] ?? '').slice(-maxBytes);
      }),
    console: async (n: DomainName) => call(() => simConsole(h, n, pollMs)),
    freeMemory: async () => call(() => freeMemoryMb(h)),
    dmTargets: async () => call(() => [...(s().dmTargets ?? [])]),
    diskBacking: async (path: HostPath) => call(() => simBacking(h, path)),
    snapshotDisk: async (sp: SnapshotSpec) => call(() => simSnapshot(h, sp)),
    removeSnapshot: async (sp: SnapshotSpec) => call(() => simRemoveSnapshot(h, sp)),
    removeFile: async (path: HostPath) =>
      call(() => {
        if (!PVHCTL_FILE.test(path) || !isRehearsalPath(path)) throw new DriverError('invalid', `${path}: not a file pvhctl wrote for a rehearsal; not removed`);
        delete s().files[path];
      }),
    clearConsoleLog: async (n: DomainName) =>
      call(() => {
        if (!n.startsWith(REHEARSAL_PREFIX)) throw new DriverError('invalid', `${n}: not a rehearsal domain; its console log is kept`);
        delete s().consoles[n];
      }),
    probe: async () => call(() => undefined),
    close: async () => {},
  };
}
