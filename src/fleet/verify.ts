/**
 * Verifying a boot: the domain runs as the expected type per `xl list -l`, its vbd and vif
 * frontends reach XenbusState 4 (Connected) in xenstore, its console log shows no panic, and an
 * optional TCP port answers. Polls until all hold or the time limit passes.
 */
import { connect } from 'node:net';
import { domainName, type Domain, type HostDriver } from '../drivers/driver.ts';
import type { GuestType } from './types.ts';

export type VerifyOptions = {
  /** How long the guest has to come up. */
  bootTimeoutMs: number;
  pollMs: number;
  /** A TCP port on the guest that must accept a connection (e.g. ssh), when given. */
  tcpProbe?: { address: string; port: number; timeoutMs: number };
  /** The console log's tail before this boot: xenconsoled appends, so only what follows it counts. */
  consoleBefore?: string;
};

export const DEFAULT_VERIFY: VerifyOptions = { bootTimeoutMs: 120_000, pollMs: 1000 };

/** A mode as the guest itself names it (Linux's pv_info line). */
export type InsideMode = 'PV' | 'PVH' | 'HVM';

/**
 * Which check of a boot failed, with its parameters: kept in a failed switch's stored outcome
 * (src/fleet/outcomes.ts), and worded by `bootCheckWords`.
 */
export type BootCheck =
  /** The domain was gone after xl create (on_crash = "destroy"): `panic` on its console or not. */
  | { check: 'domain-gone'; panic: boolean; silentPvh: boolean }
  /** The domain crashed (kept by on_crash = "preserve"). */
  | { check: 'crashed' }
  /** xl list -l shows another type than the expected one. */
  | { check: 'wrong-type'; running: GuestType; expected: GuestType }
  /** Its console shows a kernel panic. */
  | { check: 'panic' }
  /** The guest itself reports another mode than the expected one. */
  | { check: 'guest-reports'; says: InsideMode; expected: InsideMode }
  /** The time limit passed while waiting for the domain, its frontends, or its TCP port. */
  | { check: 'timeout'; waiting: 'start' | 'frontends' | 'tcp'; port: number | null; seconds: number; silentPvh: boolean };

/**
 * A failed boot check in a customer's words (no trailing full stop).
 * @example
 * bootCheckWords({ check: 'wrong-type', running: 'pv', expected: 'pvh' }) // => 'the server started in PV mode instead of PVH'
 */
export function bootCheckWords(c: BootCheck): string {
  switch (c.check) {
    case 'domain-gone': {
      const why = c.panic ? "the server's kernel stopped with an error while starting" : 'the server stopped right after starting';
      return c.silentPvh ? `${why}; ${SILENT_PVH_CONSOLE}` : why;
    }
    case 'crashed':
      return 'the server crashed while starting';
    case 'wrong-type':
      return `the server started in ${c.running.toUpperCase()} mode instead of ${c.expected.toUpperCase()}`;
    case 'panic':
      return "the server's kernel stopped with an error while starting";
    case 'guest-reports':
      return `the server reports running in ${c.says} mode instead of ${c.expected}`;
    case 'timeout': {
      const last =
        c.waiting === 'start' ? 'the server did not start' : c.waiting === 'frontends' ? 'the server did not finish starting (its disk and network drivers did not connect)' : `the server does not answer on port ${c.port}`;
      return `${last} within ${c.seconds} s${c.silentPvh ? `; ${SILENT_PVH_CONSOLE}` : ''}`;
    }
  }
}

/**
 * `evidence`: what the guest itself said of its mode (guestReport), or null when it said nothing.
 * A failure names its check (`check`), its customer words (`reason`) and the operator detail.
 */
export type VerifyResult = { ok: true; domid: number; evidence: string | null } | { ok: false; check: BootCheck; reason: string; detail: string };

const failed = (check: BootCheck, detail: string): VerifyResult => ({ ok: false, check, reason: bootCheckWords(check), detail });

/** The guest's own word on its mode: Linux's pv_info line, the lab's marker, a printed /sys/hypervisor/guest_type. */
const GUEST_SAYS = [
  { re: /Booting paravirtualized kernel on (Xen PVH|Xen HVM|Xen)\b/, type: (m: string) => (m === 'Xen PVH' ? 'PVH' : m === 'Xen HVM' ? 'HVM' : 'PV') },
  { re: /\bguest_type[=: ]+(PVH|PV|HVM)\b/, type: (m: string) => m },
];

/**
 * What the guest itself reports about the mode it runs in, from its console since boot: Linux
 * prints `Booting paravirtualized kernel on Xen PVH` (pv_info.name, arch/x86/xen/enlighten_pvh.c),
 * `on Xen` as PV (also under the PV shim, where the guest is PV), `on Xen HVM`; the lab's guests
 * print /sys/hypervisor/guest_type. Null when the console says none of these.
 * @example
 * guestReport('[    0.000000] Booting paravirtualized kernel on Xen PVH\n') // => { type: 'PVH', line: 'Booting paravirtualized kernel on Xen PVH' }
 */
export function guestReport(tail: string): { type: 'PV' | 'PVH' | 'HVM'; line: string } | null {
  let best: { type: 'PV' | 'PVH' | 'HVM'; line: string; at: number } | null = null;
  for (const g of GUEST_SAYS) {
    const re = new RegExp(g.re.source, 'g');
    for (const m of tail.matchAll(re)) {
      if (best === null || m.index > best.at) best = { type: g.type(m[1]!) as 'PV' | 'PVH' | 'HVM', line: m[0], at: m.index };
    }
  }
  return best === null ? null : { type: best.type, line: best.line };
}

/** The mode a guest reports from inside: under the PV shim it is a PV guest. */
const INSIDE: Record<GuestType, InsideMode> = { pv: 'PV', pvh: 'PVH', 'pvh-shim': 'PV', hvm: 'HVM' };

/** Lines that mean the guest kernel died (Linux panic(), BUG, GRUB errors before the kernel). */
/**
 * Console lines that mean the boot failed. Not GRUB's "error: no such device: …": Debian's PV GRUB
 * prints it on every boot while it probes for /xen/pvboot-*.elf and /grub/grub.cfg, and a GRUB that
 * really finds nothing to boot never connects the guest's frontends anyway.
 */
export const PANIC = /Kernel panic - not syncing|BUG: unable to handle|^error: .*(not a PVH kernel|not a Xen|invalid magic)/m;

/**
 * Why a console can be empty after a PVH boot: Linux makes hvc0 its preferred console only on the
 * PV entry path (arch/x86/xen/enlighten_pv.c), so without `console=hvc0` on the command line a
 * PVH kernel's messages, a panic included, never reach the xl console.
 */
export const SILENT_PVH_CONSOLE =
  "its console stayed silent (no message from its kernel): under PVH the kernel writes to the xl console only with console=hvc0 on its command line, so an error while starting (a kernel panic) is not shown there";

/**
 * True when no kernel message reached the console since the boot began: nothing at all, or only a
 * boot loader's (PVH GRUB prints its menu and "Loading Linux ..." to hvc0 itself, then the kernel
 * says nothing without console=hvc0). Kernel messages carry printk's `[    0.000000]` time
 * (CONFIG_PRINTK_TIME, on in distribution kernels), or are its banner or a panic.
 * @example
 * kernelSilent('Welcome to GRUB!\nLoading Linux 6.1.0-26-amd64 ...\n') // => true
 * kernelSilent('[    0.000000] Linux version 6.1.0-26-amd64\n') // => false
 */
export function kernelSilent(tail: string): boolean {
  return !/^[ \t]*\[ *\d+\.\d+\]|Linux version \d/m.test(tail) && !PANIC.test(tail);
}

/** The type as `xl list -l` reports it, with the shim counted as its own type. */
export function runningType(d: Domain): GuestType {
  return d.type === 'pvh' && d.pvshim ? 'pvh-shim' : d.type;
}

function tcpOpen(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The part of a console log written since `before` was read: the text after the last place where
 * the end of `before` appears (all of it when that end is not found, e.g. after log rotation).
 * @example
 * sinceBoot('old panic\nnew boot\n', 'old panic\n') // => 'new boot\n'
 */
export function sinceBoot(now: string, before: string | undefined): string {
  if (before === undefined || before === '') return now;
  const mark = before.slice(-256);
  const at = now.lastIndexOf(mark);
  return at < 0 ? now : now.slice(at + mark.length);
}

/** One console line without Xen's `(XEN) ` prefix, its `[  1.234]` timestamp or control characters. */
function cleanLine(line: string): string {
  return line
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .replace(/^\s*(\(XEN\)\s*)?(\[\s*[0-9.]+\]\s*)?/, '')
    .trim();
}

/** Lines that name why a boot died, most telling first (Xen's own panic is handled before these). */
const CAUSES = [
  /Kernel panic - not syncing: .*/,
  /\bd\d+v\d+ Triple fault.*/,
  /\bxc_dom_\w+: .*/,
  /\bBUG: .*/,
  /^error: .*/,
  /\bdomain_crash called from .*/,
];

/**
 * Why a boot died, from the console written since it began, in one clean line: the cause Xen
 * prints under `Panic on CPU N:` (the shim's own panic), else a Linux panic, a triple fault, a
 * libxenguest (xc_dom_*) or GRUB error; else the last two non-empty lines. Carriage returns,
 * escape sequences and the `(XEN)` prefixes are dropped; at most 300 characters.
 * @example
 * consoleCause('(XEN) Panic on CPU 0:\r\n(XEN) Could not set up DOM0 guest OS\r\n(XEN) ****\r\n(XEN) \r\n(XEN) Crash in five seconds...\r\n')
 * // => 'Xen panic: Could not set up DOM0 guest OS'
 */
export function consoleCause(tail: string): string {
  const lines = tail.split(/\r\n|\r|\n/).map(cleanLine).filter((l) => l !== '');
  let panicAt = -1;
  for (let i = lines.length - 1; i >= 0 && panicAt < 0; i--) if (/^Panic on CPU \d+:$/.test(lines[i]!)) panicAt = i;
  let cause: string | null = null;
  if (panicAt >= 0) {
    const body: string[] = [];
    for (const l of lines.slice(panicAt + 1)) {
      if (/^\*{8,}$/.test(l)) break;
      body.push(l);
    }
    if (body.length > 0) cause = `Xen panic: ${body.join(' ')}`;
  }
  for (let i = 0; cause === null && i < CAUSES.length; i++) {
    for (let j = lines.length - 1; j >= 0; j--) {
      const m = CAUSES[i]!.exec(lines[j]!);
      if (m) {
        cause = m[0];
        break;
      }
    }
  }
  cause ??= lines.slice(-2).join(' | ') || 'nothing on the console';
  return cause.length > 300 ? `${cause.slice(0, 299)}…` : cause;
}

/** The shortest wait between two looks at a booting domain. */
const MIN_POLL_MS = 50;

/**
 * How long to wait before the next look at a boot that began `elapsedMs` ago: a quarter of that,
 * between MIN_POLL_MS and `pollMs`. A boot is seen up at most a quarter of its time late (a fixed
 * `pollMs` of 1 s added up to a second to every 2 s boot, measured with bench/fleet.ts), and a
 * long one is looked at no more often than every `pollMs`.
 * @example
 * nextPollMs(0, 1000) // => 50
 * nextPollMs(2000, 1000) // => 500
 * nextPollMs(60_000, 1000) // => 1000
 */
export function nextPollMs(elapsedMs: number, pollMs: number): number {
  return Math.min(pollMs, Math.max(MIN_POLL_MS, elapsedMs / 4));
}

/**
 * Waits for `name` to run as `expected` with connected frontends and no panic.
 * @example
 * await verifyBoot(driver, 'web1', 'pvh', { bootTimeoutMs: 60000, pollMs: 500 }) // => { ok: true, domid: 7 }
 */
export async function verifyBoot(driver: HostDriver, name: string, expected: GuestType, opts: VerifyOptions): Promise<VerifyResult> {
  const n = domainName(name);
  const start = Date.now();
  const deadline = start + opts.bootTimeoutMs;
  let waiting: 'start' | 'frontends' | 'tcp' = 'start';
  let detail = '';
  for (;;) {
    const d = await driver.domain(n);
    if (d === null) {
      // xl create returned with the domain built: gone now means it died (on_crash = "destroy").
      const tail = sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore);
      const panic = PANIC.test(tail);
      return failed({ check: 'domain-gone', panic, silentPvh: expected === 'pvh' && kernelSilent(tail) }, `domain gone after xl create; console: ${consoleCause(tail)}`);
    } else if (d.state === 'crashed') {
      const tail = sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore);
      return failed({ check: 'crashed' }, `domain crashed; console: ${consoleCause(tail)}`);
    } else if (runningType(d) !== expected) {
      return failed({ check: 'wrong-type', running: runningType(d), expected }, `xl list -l type ${runningType(d)}`);
    } else {
      const tail = sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore);
      if (PANIC.test(tail)) return failed({ check: 'panic' }, `console: ${consoleCause(tail)}`);
      const fe = await driver.frontends(d.domid);
      const states = [...fe.vbd, ...fe.vif];
      const connected = fe.vbd.length > 0 && states.every((s) => s === 4);
      if (!connected) {
        waiting = 'frontends';
        detail = `XenbusState vbd=[${fe.vbd.join(',')}] vif=[${fe.vif.join(',')}]`;
      } else if (opts.tcpProbe && !(await tcpOpen(opts.tcpProbe.address, opts.tcpProbe.port, opts.tcpProbe.timeoutMs))) {
        waiting = 'tcp';
        detail = `tcp ${opts.tcpProbe.address}:${opts.tcpProbe.port} refused or timed out`;
      } else {
        // The guest's own word, when it gave one, must agree with xl's: a guest that says PV while
        // xl says PVH is not what was asked for.
        const says = guestReport(tail);
        if (says !== null && says.type !== INSIDE[expected]) {
          return failed({ check: 'guest-reports', says: says.type, expected: INSIDE[expected] }, `xl list -l type ${runningType(d)}; guest console: ${says.line}`);
        }
        const evidence = says === null ? null : `the guest reports ${says.type} ("${says.line}")`;
        return { ok: true, domid: d.domid, evidence };
      }
    }
    if (Date.now() >= deadline) {
      // Verification never needs console text: the frontends decide. A silent console only explains.
      const quiet = expected === 'pvh' && d !== null && kernelSilent(sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore));
      const port = waiting === 'tcp' && opts.tcpProbe ? opts.tcpProbe.port : null;
      return failed({ check: 'timeout', waiting, port, seconds: Math.round(opts.bootTimeoutMs / 1000), silentPvh: quiet }, `${detail}${quiet ? '; no kernel message on the console since the boot' : ''}`);
    }
    await sleep(Math.min(nextPollMs(Date.now() - start, opts.pollMs), Math.max(1, deadline - Date.now())));
  }
}
