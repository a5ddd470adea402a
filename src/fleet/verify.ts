/**
 * Verifying a boot: the domain runs as the expected type per `xl list -l`, its vbd and vif
 * frontends reach XenbusState 4 (Connected) in xenstore, its console log shows no panic, and an
 * optional TCP port answers. Polls until all hold or the time limit passes.
 */
import { connect } from 'node:net';
import { domainName, type Domain, type HostDriver } from '../drivers/driver.ts';
import type { GuestType } from '../store/schema.ts';

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

export type VerifyResult = { ok: true; domid: number } | { ok: false; reason: string; detail: string };

/** Lines that mean the guest kernel died (Linux panic(), BUG, GRUB errors before the kernel). */
const PANIC = /Kernel panic - not syncing|BUG: unable to handle|^error: .*(not a PVH kernel|not a Xen|invalid magic|no such device)/m;

/**
 * Why a console can be empty after a PVH boot: Linux makes hvc0 its preferred console only on the
 * PV entry path (arch/x86/xen/enlighten_pv.c), so without `console=hvc0` on the command line a
 * PVH kernel's messages, a panic included, never reach the xl console.
 */
export const SILENT_PVH_CONSOLE =
  "its console stayed silent: under PVH the kernel writes to the xl console only with console=hvc0 on its command line, so an error while starting (a kernel panic) is not shown there";

/** True when nothing but blanks was written to the console since the boot began. */
const silent = (tail: string) => tail.trim() === '';

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

/**
 * Waits for `name` to run as `expected` with connected frontends and no panic.
 * @example
 * await verifyBoot(driver, 'web1', 'pvh', { bootTimeoutMs: 60000, pollMs: 500 }) // => { ok: true, domid: 7 }
 */
export async function verifyBoot(driver: HostDriver, name: string, expected: GuestType, opts: VerifyOptions): Promise<VerifyResult> {
  const n = domainName(name);
  const deadline = Date.now() + opts.bootTimeoutMs;
  let last = 'the server did not start';
  let detail = '';
  for (;;) {
    const d = await driver.domain(n);
    if (d === null) {
      // xl create returned with the domain built: gone now means it died (on_crash = "destroy").
      const tail = sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore);
      const panic = PANIC.exec(tail);
      const why = panic ? "the server's kernel stopped with an error while starting" : 'the server stopped right after starting';
      return {
        ok: false,
        reason: expected === 'pvh' && silent(tail) ? `${why}; ${SILENT_PVH_CONSOLE}` : why,
        detail: `domain gone after xl create; console: ${tail.split('\n').filter((l) => l.trim() !== '').slice(-2).join(' | ').slice(-400)}`,
      };
    } else if (d.state === 'crashed') {
      const tail = sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore);
      return { ok: false, reason: 'the server crashed while starting', detail: `domain crashed; console: ${tail.split('\n').filter((l) => l !== '').slice(-2).join(' | ')}` };
    } else if (runningType(d) !== expected) {
      return { ok: false, reason: `the server started in ${runningType(d).toUpperCase()} mode instead of ${expected.toUpperCase()}`, detail: `xl list -l type ${runningType(d)}` };
    } else {
      const tail = sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore);
      const panic = PANIC.exec(tail);
      if (panic) return { ok: false, reason: 'the server\'s kernel stopped with an error while starting', detail: `console: ${panic[0]}` };
      const fe = await driver.frontends(d.domid);
      const states = [...fe.vbd, ...fe.vif];
      const connected = fe.vbd.length > 0 && states.every((s) => s === 4);
      if (!connected) {
        last = 'the server did not finish starting (its disk and network drivers did not connect)';
        detail = `XenbusState vbd=[${fe.vbd.join(',')}] vif=[${fe.vif.join(',')}]`;
      } else if (opts.tcpProbe && !(await tcpOpen(opts.tcpProbe.address, opts.tcpProbe.port, opts.tcpProbe.timeoutMs))) {
        last = `the server does not answer on port ${opts.tcpProbe.port}`;
        detail = `tcp ${opts.tcpProbe.address}:${opts.tcpProbe.port} refused or timed out`;
      } else {
        return { ok: true, domid: d.domid };
      }
    }
    if (Date.now() >= deadline) {
      // Verification never needs console text: the frontends decide. A silent console only explains.
      const quiet = expected === 'pvh' && d !== null && silent(sinceBoot(await driver.consoleTail(n, 16384), opts.consoleBefore));
      return { ok: false, reason: `${last} within ${Math.round(opts.bootTimeoutMs / 1000)} s${quiet ? `; ${SILENT_PVH_CONSOLE}` : ''}`, detail: `${detail}${quiet ? '; console empty since the boot' : ''}` };
    }
    await sleep(Math.min(opts.pollMs, Math.max(1, deadline - Date.now())));
  }
}
