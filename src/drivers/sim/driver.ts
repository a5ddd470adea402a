/**
 * HostDriver over a simulated host (world.ts). It answers as xl would, with xl's own error
 * messages, so the switch logic and its rollback can be tested on thousands of guests.
 */
import { DriverError, type ConsoleChannel, type Domain, type DomainName, type DomainType, type HostDriver, type HostPath, keptName } from '../driver.ts';
import { effectiveSettings, parseXlConfig } from '../../xlcfg/parser.ts';
import { bytesOf, frontendState, putBytes, saveSim, type SimDomain, type SimHost } from './world.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How the simulated xl reads a config: with the real lossless parser (src/xlcfg/), only the keys
 * that decide how the simulated domain boots; a config xl would refuse gives null.
 */
export function simReadConfig(text: string): { name: string | null; type: DomainType; pvshim: boolean; kernel: string | null } | null {
  const r = parseXlConfig(text, 'sim');
  if (!r.ok) return null;
  const s = effectiveSettings(r.config);
  const get = (k: string) => {
    const v = s.get(k)?.value;
    return typeof v === 'string' ? v : null;
  };
  const t = get('type') ?? (get('builder') === 'hvm' ? 'hvm' : 'pv');
  // xl prefix-matches type in the order hvm, pv, pvh (xen-facts.md).
  const type: DomainType = 'hvm'.startsWith(t) ? 'hvm' : t === 'pvh' ? 'pvh' : 'pv';
  return { name: get('name'), type, pvshim: type === 'pvh' && /^[1-9]/.test(get('pvshim') ?? '0'), kernel: get('kernel') };
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

/** Boots a domain from its config the way `xl create` would; returns xl's error message on failure. */
function bootFromConfig(h: SimHost, path: string, now: number): string | null {
  const s = h.state;
  const bytes = bytesOf(h, path);
  if (bytes === undefined) return `Failed to read config file: ${path}: No such file or directory`;
  const cfg = simReadConfig(Buffer.from(bytes).toString('latin1'));
  if (cfg === null) return `${path}: config parsing error`;
  if (cfg.name === null) return `${path}: domain name must be specified`;
  if (s.domains[cfg.name]) return `domain ${cfg.name} already exists`;
  const g = s.guests[cfg.name];
  if (g === undefined) return `${cfg.name}: disk not found`;
  const k = g.kernel;
  const boot = cfg.type === 'pvh' && cfg.pvshim ? 'pv' : cfg.type;
  if (cfg.type !== 'pv' && !s.virtCaps.includes('hvm')) return 'xc_dom_boot_xen_init: hvm not supported by this host';
  if (boot === 'pv' && k.arch === 'x86_32p' && cfg.type === 'pv' && !s.xenCaps.includes('xen-3.0-x86_32p')) {
    return 'xc_dom_compat_check: guest type xen-3.0-x86_32p not supported by xen kernel, sorry';
  }
  let crash: string | null = null;
  if (boot === 'pvh' && !k.pvh) {
    if (g.boot === 'direct') return 'xc_dom_guest_type: image not capable of booting inside a HVM container';
    crash = 'error: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY.\n';
  }
  if (boot === 'pv' && !k.pv) {
    if (g.boot === 'direct') return 'xc_dom_find_loader: no loader found';
    crash = 'error: not a Xen PV kernel.\n';
  }
  const fault = g.faults.find((f) => (f.kind === 'panic' || f.kind === 'hang') && f.count > 0 && (f.onType === undefined || f.onType === cfg.type));
  let hung = false;
  if (fault && (fault.kind === 'panic' || fault.kind === 'hang')) {
    fault.count--;
    if (fault.kind === 'panic') crash = 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n';
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
    vbd: 1,
    vif: 1,
  };
  s.domains[cfg.name] = d;
  consoleAppend(h, cfg.name, `[    0.000000] Linux version 6.1.0 (booting as ${cfg.type}${cfg.pvshim ? ' under the PV shim' : ''})\n${crash ?? ''}`);
  return null;
}

const asDomain = (d: SimDomain): Domain => ({ name: d.name, domid: d.domid, type: d.type, pvshim: d.pvshim, state: d.state });

/**
 * A HostDriver over one simulated host; every change is saved before the call returns.
 * @example
 * const d = simDriver(makeSimHost({ name: 'sim1', guests: 3, seed: 1 }));
 * (await d.listDomains()).length // => 3
 */
export function simDriver(h: SimHost, opts: { pollMs?: number } = {}): HostDriver {
  const pollMs = opts.pollMs ?? 2;
  const s = () => h.state;
  const call = <T>(fn: () => T): T => {
    tick(h);
    try {
      return fn();
    } finally {
      saveSim(h);
    }
  };
  const domain = (n: string) => {
    const d = s().domains[n];
    return d === undefined ? null : asDomain(d);
  };
  return {
    name: h.state.name,
    info: async () => call(() => ({ host: s().name, xenVersion: s().xenVersion, xenCaps: [...s().xenCaps], virtCaps: [...s().virtCaps] })),
    listDomains: async () => call(() => Object.values(s().domains).map(asDomain)),
    domain: async (n: DomainName) => call(() => domain(n)),
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
          throw new DriverError('failed', `${path}: changed since it was read; not replaced`);
        }
        if (old !== undefined) {
          let n = 0;
          while (h.state.files[keptName(path, new Date(), n)] !== undefined) n++;
          putBytes(h, keptName(path, new Date(), n), old);
        }
        putBytes(h, path, content);
      }),
    async shutdown(n: DomainName, limitMs: number) {
      const started = call(() => {
        const d = s().domains[n];
        if (d === undefined) return false;
        if (d.state !== 'crashed' && d.shutdownAt === null) {
          const slow = s().guests[n]?.faults.find((f) => f.kind === 'slow-shutdown' && f.count > 0);
          let ms = s().shutdownMs;
          if (slow && slow.kind === 'slow-shutdown') {
            slow.count--;
            ms = slow.ms;
          }
          d.shutdownAt = Date.now() + ms;
        }
        return true;
      });
      if (!started) return 'stopped';
      const deadline = Date.now() + limitMs;
      for (;;) {
        if (call(() => domain(n)) === null) return 'stopped';
        if (Date.now() >= deadline) return 'timeout';
        await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
      }
    },
    destroy: async (n: DomainName) =>
      call(() => {
        delete s().domains[n];
      }),
    create: async (path: HostPath) =>
      call(() => {
        const err = bootFromConfig(h, path, Date.now());
        if (err !== null) throw new DriverError('failed', `xl create ${path}: ${err}`);
      }),
    frontends: async (domid: number) =>
      call(() => {
        const d = Object.values(s().domains).find((x) => x.domid === domid);
        if (d === undefined) return { vbd: [], vif: [] };
        const st = frontendState(d, Date.now());
        return { vbd: Array(d.vbd).fill(st), vif: Array(d.vif).fill(st) };
      }),
    consoleTail: async (n: DomainName, maxBytes: number) => call(() => (s().consoles[n] ?? '').slice(-maxBytes)),
    console: async (n: DomainName) => call(() => simConsole(h, n, pollMs)),
    probe: async () => call(() => undefined),
    close: async () => {},
  };
}
