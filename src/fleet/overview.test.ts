import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../util/rng.ts';
import { overview, weekStart, weeklyPv, type FinishedOp } from './overview.ts';
import type { PlanGuest, PlanHost } from './planner.ts';
import { planCampaign } from './planner.ts';
import type { GuestType } from './types.ts';

const NOW = Date.parse('2026-12-06T22:00:00Z'); // a Sunday
let opId = 0;
const op = (guestId: number, at: string, o: Partial<FinishedOp> = {}): FinishedOp => ({ id: ++opId, guestId, kind: 'switch', from: 'pv', to: 'pvh', status: 'done', reason: null, at, ...o });

test('weeks start on Monday 00:00 UTC', () => {
  assert.equal(new Date(weekStart(NOW)).toISOString(), '2026-11-30T00:00:00.000Z');
  assert.equal(new Date(weekStart(Date.parse('2026-11-30T00:00:00Z'))).toISOString(), '2026-11-30T00:00:00.000Z');
  assert.equal(new Date(weekStart(Date.parse('2026-11-29T23:59:59Z'))).toISOString(), '2026-11-23T00:00:00.000Z');
});

test('the PV count per week is rebuilt backwards from now: switches off PV, rollbacks back onto it; failed switches change nothing', () => {
  const ops = [
    op(1, '2026-11-17T10:00:00Z'),
    op(2, '2026-11-25T10:00:00Z', { to: 'pvh-shim' }),
    op(3, '2026-11-26T10:00:00Z', { status: 'rolled-back', reason: 'did not come up' }),
    op(4, '2026-12-01T10:00:00Z'),
    op(4, '2026-12-02T10:00:00Z', { kind: 'rollback' }), // undone: 4 is PV again
    op(5, '2026-12-03T10:00:00Z', { from: 'pvh-shim', to: 'pvh' }), // shim to PVH: not off PV
  ];
  const w = weeklyPv(10, ops, NOW, 4, true);
  assert.deepEqual(w.map((p) => p.week), ['2026-11-09', '2026-11-16', '2026-11-23', '2026-11-30']);
  assert.deepEqual(w.map((p) => p.pvLeft), [12, 11, 10, 10]);
  assert.deepEqual(w.map((p) => [p.offPv, p.backToPv, p.rolledBack]), [[0, 0, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0]]);
  // A journal read cut at a limit: weeks before the oldest operation read have no count.
  assert.deepEqual(weeklyPv(10, ops.slice(1), NOW, 4, false).map((p) => p.pvLeft), [null, null, 10, 10]);
});

test('property: the backwards series equals a forward replay of random histories', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const weeks = 1 + Math.floor(r() * 20);
    const span = (weeks + 4) * 7 * 86_400_000;
    const n = Math.floor(r() * 30);
    const types: GuestType[] = Array.from({ length: n }, () => (['pv', 'pv', 'pvh', 'pvh-shim', 'hvm'] as const)[Math.floor(r() * 5)]!);
    // Events in time order, replayed forward; the count at each week end sampled on the way.
    const times = Array.from({ length: Math.floor(r() * 80) }, () => NOW - Math.floor(r() * span)).sort((a, b) => a - b);
    const ends = Array.from({ length: weeks }, (_, i) => weekStart(NOW) - (weeks - 1 - i) * 7 * 86_400_000 + 7 * 86_400_000);
    const expected: number[] = [];
    const ops: FinishedOp[] = [];
    let e = 0;
    const count = () => types.filter((t) => t === 'pv').length;
    for (const t of times) {
      while (e < ends.length && ends[e]! <= t) (expected.push(count()), e++);
      if (n === 0) continue;
      const g = Math.floor(r() * n);
      const from = types[g]!;
      if (from === 'hvm') continue;
      const to = (['pv', 'pvh', 'pvh-shim'] as const).filter((x) => x !== from)[Math.floor(r() * 2)]!;
      const kind = r() < 0.2 ? 'rollback' : 'switch';
      const status = r() < 0.15 ? 'rolled-back' : 'done';
      // A rollback's row names the switch it undoes: from its to, back to its from.
      ops.push({ id: ops.length + 1, guestId: g, kind, from: kind === 'switch' ? from : to, to: kind === 'switch' ? to : from, status, reason: null, at: new Date(t).toISOString() });
      if (status === 'done') types[g] = to;
    }
    while (e < ends.length) (expected.push(count()), e++);
    const got = weeklyPv(count(), [...ops].reverse(), NOW, weeks, true).map((p) => p.pvLeft);
    assert.deepEqual(got, expected, `seed ${seed}`);
  }
});

test('the overview: progress per host and wave, failures with their words, readiness, an empty campaigns list', () => {
  const host = (name: string): PlanHost => ({ name, role: 'pv-pvh', xenCaps: ['xen-3.0-x86_64', 'xen-3.0-x86_32p'], virtCaps: ['pv', 'hvm'], maxParallel: 2 });
  const v = { pv: { capable: true, abi: 'xen-3.0-x86_64', reason: '' }, pvh: { capable: true, reason: '' }, arch: 'x86_64' as const, source: 'kernel' as const, kernelVersion: null, inspection: null };
  const g = (id: number, name: string, h: string, type: GuestType, o: Partial<PlanGuest> = {}): PlanGuest => ({ id, name, host: h, owner: null, type, health: 'ok', verdict: v, refuted: new Set(), rehearsals: [], ...o });
  const hosts = [host('xen1'), host('xen2')];
  const guests = [
    g(1, 'a', 'xen1', 'pvh'),
    g(2, '<b>', 'xen1', 'pv', { refuted: new Set(['pvh']) }),
    g(3, 'c', 'xen1', 'pv', { health: 'needs-attention' }),
    g(4, 'd', 'xen2', 'pv'),
    g(5, 'e', 'xen2', 'pv'),
  ];
  const ops = [op(1, '2026-12-01T10:00:00Z'), op(2, '2026-12-02T10:00:00Z', { status: 'rolled-back', reason: 'The server did not start in PVH mode; it was put back.' }), op(3, '2026-12-03T10:00:00Z', { status: 'needs-attention' })];
  const plan = planCampaign(hosts, guests, { canary: 1, pv32First: { kind: 'none' }, perHost: null });
  const o = overview({ hosts, guests, plan, ops, attention: new Map([[3, 'Our team is looking at it.']]), now: NOW, weeks: 3, complete: true });
  assert.deepEqual(o.totals, { guests: 5, pvLeft: 4, pv32Left: 0, offPv: 1, rolledBack: 1, rolledBackLeft: 1, attention: 1 });
  assert.deepEqual(o.weeks.map((w) => w.pvLeft), [5, 5, 4]);
  assert.deepEqual(o.hosts.map((h) => [h.host, h.byType.pv, h.byType.pvh, h.attention]), [['xen1', 2, 1, 1], ['xen2', 2, 0, 0]]);
  assert.deepEqual(o.failures.map((f) => [f.guest, f.status, f.reason]), [['c', 'needs-attention', 'Our team is looking at it.'], ['<b>', 'rolled-back', 'The server did not start in PVH mode; it was put back.']]);
  // <b> (xen1, first host) goes to the shim as the canary; c is held (needs attention); d and e to PVH together.
  assert.deepEqual(o.waves.map((w) => [w.kind, w.hosts, w.toPvh, w.toShim]), [['canary', 1, 0, 1], ['main', 1, 2, 0]]);
  assert.deepEqual(o.held, { blocked: 1, done: 1 });
  assert.deepEqual(o.readiness.hosts.map((h) => h.withoutPv.kind), ['not-ready', 'not-ready']);
  assert.deepEqual(o.campaigns, []);
});
