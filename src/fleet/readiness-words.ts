/**
 * Xen-upgrade readiness (src/fleet/readiness.ts) in an operator's words, rendered at the edge from
 * the codes. Guest names, kernels and packages come from guests: escape them on output.
 */
import { operatorPathWords } from './plan-words.ts';
import type { GuestPath } from './planner.ts';
import type { FleetReadiness, InTheWay, NeedsHvmWhy, XenReady } from './readiness.ts';

/** Guests named in one line before "and N more". */
const NAMED = 5;

/**
 * What a guest in the way must do to leave PV, as the end of a sentence that starts with its name.
 * @example
 * wayOffPv({ path: 'after-kernel-upgrade', install: 'linux-image-686-pae' }) // => 'needs a kernel upgrade first (install linux-image-686-pae)'
 */
export function wayOffPv(p: GuestPath): string {
  switch (p.path) {
    case 'pvh-now':
      return 'can switch to PVH now';
    case 'pv-shim':
      return 'can move to the PV shim now';
    case 'after-reboot':
      return `needs a reboot into ${p.kernel} first`;
    case 'after-kernel-upgrade':
      return `needs a kernel upgrade first (install ${p.install})`;
    case 'blocked':
    case 'done':
      return `is ${operatorPathWords(p)}`;
  }
}

/**
 * Whether a host could boot a Xen without (32-bit) PV, and why, in one line.
 * @example
 * readyWords({ kind: 'not-ready', guests: [web3] }, 'pv32')
 * // => 'no: 1 guest is 32-bit PV: web3 needs a kernel upgrade first (install linux-image-686-pae)'
 * readyWords({ kind: 'already' }, 'pv32') // => 'yes: its Xen runs no 32-bit PV already (no xen-3.0-x86_32p in xen_caps)'
 */
export function readyWords(r: XenReady, without: 'pv32' | 'pv'): string {
  const what = without === 'pv32' ? '32-bit PV' : 'PV';
  if (r.kind === 'already') return without === 'pv32' ? 'yes: its Xen runs no 32-bit PV already (no xen-3.0-x86_32p in xen_caps)' : 'yes: its Xen runs no PV already (no pv in virt_caps)';
  if (r.kind === 'ready') return `yes: no guest runs as ${what}`;
  const n = r.guests.length;
  const unknown = r.guests.filter((g) => g.pv32 === 'unknown').length;
  const head = without === 'pv32' && unknown > 0 ? `${n} ${n === 1 ? 'guest is' : 'guests are'} 32-bit PV or not yet inspected` : `${n} ${n === 1 ? 'guest is' : 'guests are'} ${what}`;
  const named = r.guests.slice(0, NAMED).map((g: InTheWay) => `${g.name} ${wayOffPv(g.path)}`);
  return `no: ${head}: ${named.join('; ')}${n > NAMED ? `; and ${n - NAMED} more` : ''}`;
}

/**
 * Why a guest needs HVM, in an operator's words.
 * @example
 * needsHvmWords({ code: 'runs-hvm' }) // => 'runs as HVM on a pv-pvh host: move it to an hvm-dedicated host'
 */
export function needsHvmWords(why: NeedsHvmWhy): string {
  switch (why.code) {
    case 'runs-hvm':
      return 'runs as HVM on a pv-pvh host: move it to an hvm-dedicated host';
    case 'kernel-boots-neither':
      return 'its kernel boots neither as PV nor as PVH: it needs HVM, on an hvm-dedicated host';
    case 'did-not-boot':
      return 'did not boot as PVH nor under the shim: it needs HVM, on an hvm-dedicated host';
  }
}

/**
 * The readiness with each host's lines in words beside the codes: what `pvhctl readiness --json`
 * and `GET /v1/readiness` give.
 * @example
 * readinessView(fleetReadiness(hosts, guests)).hosts[0].words
 * // => { withoutPv32: 'no: 1 guest is 32-bit PV: web3 needs ...', withoutPv: 'no: ...', needsHvm: ['dead: its kernel boots neither ...'] }
 */
export function readinessView(r: FleetReadiness) {
  return {
    totals: r.totals,
    hosts: r.hosts.map((h) => ({
      ...h,
      words: { withoutPv32: readyWords(h.withoutPv32, 'pv32'), withoutPv: readyWords(h.withoutPv, 'pv'), needsHvm: h.needsHvm.map((n) => `${n.name}: ${needsHvmWords(n.why)}`) },
    })),
  };
}
