import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Verdict } from '../guest/verdict.ts';
import { rng } from '../util/rng.ts';
import type { PlanGuest, PlanHost } from './planner.ts';
import { fleetReadiness, hostReadiness, type FleetReadiness } from './readiness.ts';
import { readyWords } from './readiness-words.ts';
import { UNKNOWN_VERDICT, type GuestVerdict } from './seams.ts';
import type { GuestType } from './types.ts';

/** A verdict of a kernel of this width, with or without the PV and PVH entries. */
function verdict(width: 64 | 32, pv: boolean, pvh: boolean, inspection: Verdict | null = null): GuestVerdict {
  return {
    pv: { capable: pv, abi: pv ? (width === 64 ? 'xen-3.0-x86_64' : 'xen-3.0-x86_32p') : null, reason: pv ? 'PV entry' : 'no PV entry' },
    pvh: { capable: pvh, reason: pvh ? 'PHYS32_ENTRY' : 'no PHYS32_ENTRY' },
    arch: width === 64 ? 'x86_64' : 'x86_32p',
    source: inspection === null ? 'kernel' : 'disk',
    kernelVersion: null,
    inspection,
  };
}
const NEEDS_686 = verdict(32, true, false, { verdict: 'needs-kernel', install: 'linux-image-686-pae', reasons: ['no PVH kernel installed'] });
const host = (name: string, o: Partial<PlanHost> = {}): PlanHost => ({ name, role: 'pv-pvh', xenCaps: ['xen-3.0-x86_64', 'xen-3.0-x86_32p', 'hvm-3.0-x86_64'], virtCaps: ['pv', 'hvm'], maxParallel: 2, ...o });
let ids = 0;
const guest = (name: string, hostName: string, type: GuestType, v: GuestVerdict | null, o: Partial<PlanGuest> = {}): PlanGuest => ({
  id: ++ids, name, host: hostName, owner: null, type, health: 'ok', verdict: v, refuted: new Set(), rehearsals: [], ...o,
});

test('a host with a 32-bit PV guest that needs a new kernel is not ready, and says who and what to install', () => {
  const h = host('xen1');
  const r = hostReadiness(h, [
    guest('web3', 'xen1', 'pv', NEEDS_686),
    guest('db1', 'xen1', 'pv', verdict(64, true, true)),
    guest('old', 'xen1', 'pvh-shim', verdict(32, true, false)),
    guest('elsewhere', 'xen2', 'pv', verdict(32, true, false)),
  ]);
  assert.equal(r.guests, 3);
  assert.equal(r.pvLeft, 2);
  assert.equal(r.pv32Left, 1);
  assert.equal(readyWords(r.withoutPv32, 'pv32'), 'no: 1 guest is 32-bit PV: web3 needs a kernel upgrade first (install linux-image-686-pae)');
  assert.equal(readyWords(r.withoutPv, 'pv'), 'no: 2 guests are PV: web3 needs a kernel upgrade first (install linux-image-686-pae); db1 can switch to PVH now');
  // The shim guest is in nobody's way; once web3 and db1 move, the host is ready for both.
  const after = hostReadiness(h, [guest('web3', 'xen1', 'pvh', NEEDS_686), guest('old', 'xen1', 'pvh-shim', verdict(32, true, false))]);
  assert.deepEqual([after.withoutPv32, after.withoutPv], [{ kind: 'ready' }, { kind: 'ready' }]);
  // A Xen already built without 32-bit PV.
  assert.deepEqual(hostReadiness(host('xen9', { xenCaps: ['xen-3.0-x86_64', 'hvm-3.0-x86_64'] }), []).withoutPv32, { kind: 'already' });
});

test('a PV guest never inspected counts as 32-bit until a scan says; HVM guests on pv-pvh hosts need an hvm-dedicated one', () => {
  const r = hostReadiness(host('xen1'), [
    guest('mystery', 'xen1', 'pv', null),
    guest('win', 'xen1', 'hvm', null),
    guest('dead', 'xen1', 'pv', verdict(64, false, false)),
  ]);
  assert.equal(r.pv32Unknown, 1);
  assert.match(readyWords(r.withoutPv32, 'pv32'), /^no: 1 guest is 32-bit PV or not yet inspected: mystery is blocked: not inspected/);
  assert.deepEqual(r.needsHvm.map((n) => [n.name, n.why.code]), [['dead', 'kernel-boots-neither'], ['win', 'runs-hvm']]);
  // On an hvm-dedicated host they are where they belong.
  assert.deepEqual(hostReadiness(host('hvm1', { role: 'hvm-dedicated' }), [guest('win', 'hvm1', 'hvm', null)]).needsHvm, []);
});

test('guest names stay data: more than five in the way are counted, not listed', () => {
  const gs = Array.from({ length: 8 }, (_, i) => guest(`g${i}`, 'xen1', 'pv', verdict(32, true, true)));
  const words = readyWords(hostReadiness(host('xen1'), gs).withoutPv32, 'pv32');
  assert.match(words, /^no: 8 guests are 32-bit PV: g0 can switch to PVH now; .*g4 can switch to PVH now; and 3 more$/);
});

/** A simulated fleet: hosts with and without 32-bit PV, PV, hvm; guests of every width, type and verdict. */
function simulated(seed: number): { hosts: PlanHost[]; guests: PlanGuest[] } {
  const r = rng(seed);
  const one = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const hosts = Array.from({ length: 2 + Math.floor(r() * 12) }, (_, i) =>
    host(`h${i}`, {
      role: r() < 0.1 ? 'hvm-dedicated' : 'pv-pvh',
      xenCaps: ['xen-3.0-x86_64', ...(r() < 0.6 ? ['xen-3.0-x86_32p'] : []), 'hvm-3.0-x86_64'],
      virtCaps: [...(r() < 0.9 ? ['pv'] : []), ...(r() < 0.9 ? ['hvm'] : [])],
    }),
  );
  const verdicts: (GuestVerdict | null)[] = [null, UNKNOWN_VERDICT('unreadable'), NEEDS_686, verdict(64, true, true), verdict(64, true, false), verdict(32, true, false), verdict(32, true, true), verdict(64, false, false)];
  const guests = Array.from({ length: Math.floor(r() * 60) }, (_, i) =>
    guest(`v${i}`, one(hosts).name, one(['pv', 'pv', 'pv', 'pvh', 'pvh-shim', 'hvm'] as const), one(verdicts), {
      health: one(['ok', 'ok', 'ok', 'switching', 'needs-attention'] as const),
      refuted: new Set(r() < 0.1 ? ['pvh', 'pvh-shim'] : []),
    }),
  );
  return { hosts, guests };
}

/** The oracle, from the rules as stated, not from readiness.ts. */
function oracle(hosts: PlanHost[], guests: PlanGuest[], got: FleetReadiness): void {
  let pv = 0;
  let ready32 = 0;
  for (const h of hosts) {
    const mine = guests.filter((g) => g.host === h.name);
    const r = got.hosts.find((x) => x.host === h.name)!;
    const stillPv = mine.filter((g) => g.type === 'pv');
    const maybe32 = stillPv.filter((g) => g.verdict === null || g.verdict.source === 'unknown' || g.verdict.arch !== 'x86_64');
    pv += stillPv.length;
    // Ready without 32-bit PV iff none of its guests is (or may be) 32-bit PV and not done.
    assert.equal(r.withoutPv32.kind !== 'not-ready', maybe32.length === 0, `${h.name} pv32`);
    assert.equal(r.withoutPv32.kind === 'already', maybe32.length === 0 && !h.xenCaps.includes('xen-3.0-x86_32p'));
    if (r.withoutPv32.kind === 'not-ready') assert.deepEqual(r.withoutPv32.guests.map((g) => g.id).sort(), maybe32.map((g) => g.id).sort());
    // Ready without PV iff none runs as PV (the shim's guests included: the shim brings its own PV).
    assert.equal(r.withoutPv.kind !== 'not-ready', stillPv.length === 0, `${h.name} pv`);
    assert.equal(r.pvLeft, stillPv.length);
    assert.equal(r.pv32Left + r.pv32Unknown, maybe32.length);
    // Every guest listed as needing HVM runs as HVM, or is PV with no path to PVH or the shim, and not on an hvm-dedicated host.
    for (const n of r.needsHvm) {
      const g = mine.find((x) => x.id === n.id)!;
      assert.notEqual(h.role, 'hvm-dedicated');
      if (g.type === 'hvm') assert.equal(n.why.code, 'runs-hvm');
      else {
        assert.equal(g.health, 'ok');
        const v = g.verdict!;
        const none = !v.pvh.capable && !v.pv.capable;
        assert.ok(none || (g.refuted.has('pvh') && g.refuted.has('pvh-shim')) || (!v.pvh.capable && g.refuted.has('pvh-shim')), `${g.name}: ${n.why.code}`);
      }
    }
    if (h.role !== 'hvm-dedicated') assert.deepEqual(mine.filter((g) => g.type === 'hvm').map((g) => g.id).sort(), r.needsHvm.filter((n) => n.why.code === 'runs-hvm').map((n) => n.id).sort());
    if (maybe32.length === 0) ready32++;
  }
  assert.equal(got.totals.pvLeft, pv);
  assert.equal(got.totals.readyWithoutPv32, ready32);
  assert.equal(got.totals.hosts, hosts.length);
  assert.equal(got.totals.guests, guests.filter((g) => hosts.some((h) => h.name === g.host)).length);
}

test('property: readiness on 300 simulated fleets agrees with an independent oracle, and does not depend on input order', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const { hosts, guests } = simulated(seed);
    const got = fleetReadiness(hosts, guests);
    oracle(hosts, guests, got);
    assert.deepEqual(fleetReadiness([...hosts].reverse(), [...guests].reverse()), got, `seed ${seed}`);
  }
});
