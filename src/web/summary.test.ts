import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Guest, Host, Operation } from '../store/schema.ts';
import { path32 } from '../fleet/become.ts';
import { LIST_LIMIT, summarize } from './summary.ts';

const T = '2026-11-24T19:00:00.000Z';
const host = (id: number, name: string, xen_caps: string, virt_caps: string): Host => ({
  id, name, transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', xen_version: '4.17', xen_caps, virt_caps, role: 'pv-pvh', max_parallel: 2, last_seen: null, machine: null, host_key: null, time_zone: 'UTC', created_at: T,
});
const verdict = (pv: boolean, pvh: boolean, arch: string | null, source = 'kernel') =>
  JSON.stringify({ pv: { capable: pv, abi: pv ? `xen-3.0-${arch}` : null, reason: 'r' }, pvh: { capable: pvh, reason: pvh ? 'has PHYS32_ENTRY' : 'no PHYS32_ENTRY note' }, arch, source, kernelVersion: null });
let nextId = 1;
const guest = (host_id: number, type: Guest['current_type'], arch: string | null, v: string | null, health: Guest['health'] = 'ok', attention: string | null = null): Guest => ({
  id: nextId, name: `g${nextId++}`, host_id, owner: 'c', config_path: '/etc/xen/g.cfg', current_type: type, arch, verdict: v, verdict_at: T, health, attention, run_state: 'running', run_state_at: T, updated_at: T,
});
const op = (id: number, guest_id: number, status: Operation['status'], kind: Operation['kind'] = 'switch'): Operation => ({
  id, guest_id, kind, from_type: 'pv', to_type: 'pvh', status, step: 'verify', force: 0, kept_version_id: null, new_version_id: null, reason: `why ${id}`, detail: null, reason_code: null, reason_params: null, requested_by: 'op', prior_state: 'running', pod: null, owner: null, lease_until: null, created_at: T, updated_at: T,
});

const hosts = [host(1, 'modern', 'xen-3.0-x86_64 hvm-3.0-x86_64', 'pv hvm hap'), host(2, 'pv32', 'xen-3.0-x86_64 xen-3.0-x86_32p hvm-3.0-x86_64', 'pv hvm'), host(3, 'old', 'xen-3.0-x86_64', 'pv')];

test('totals, the type × arch × verdict matrix and per-host progress add up', () => {
  nextId = 1;
  const guests = [
    guest(1, 'pv', 'x86_64', verdict(true, true, 'x86_64')),
    guest(1, 'pv', 'x86_64', verdict(true, true, 'x86_64')),
    guest(1, 'pvh', 'x86_64', verdict(true, true, 'x86_64')),
    guest(1, 'pv', 'x86_64', verdict(true, false, 'x86_64'), 'needs-attention', 'could not be brought back'),
    guest(2, 'pv', 'x86_32p', verdict(true, false, 'x86_32p')),
    guest(2, 'pv', 'x86_32p', verdict(false, true, 'x86_32p')),
    guest(2, 'pvh-shim', 'x86_32p', verdict(true, false, 'x86_32p')),
    guest(3, 'pv', null, null, 'switching'),
    guest(3, 'pv', 'x86_64', '{not json'),
  ];
  const ops = [op(1, 4, 'needs-attention'), op(2, 1, 'rolled-back'), op(3, 3, 'done'), op(4, 8, 'running'), op(5, 2, 'rolled-back', 'rollback')];
  const s = summarize(guests, hosts, ops);
  assert.deepEqual(s.totals, { guests: 9, hosts: 3, byType: { pv: 7, pvh: 1, 'pvh-shim': 1, hvm: 0 }, attention: 1, switching: 1 });
  assert.equal(s.matrix.reduce((a, c) => a + c.n, 0), 9);
  assert.deepEqual(s.matrix.find((c) => c.type === 'pv' && c.arch === 'x86_64' && c.verdict === 'pvh'), { type: 'pv', arch: 'x86_64', verdict: 'pvh', n: 2 });
  assert.deepEqual(s.matrix.find((c) => c.arch === 'unknown'), { type: 'pv', arch: 'unknown', verdict: 'unknown', n: 1 });
  assert.equal(s.matrix.find((c) => c.type === 'pv' && c.arch === 'x86_64' && c.verdict === 'unknown')?.n, 1, 'a corrupt verdict counts as unknown');
  assert.deepEqual(s.matrix.map((c) => c.type), ['pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pvh-shim', 'pvh'], 'PV first, then shim, then PVH');
  const byName = Object.fromEntries(s.hosts.map((h) => [h.name, h]));
  assert.deepEqual([byName.modern!.total, byName.modern!.byType.pvh, byName.modern!.attention, byName.modern!.hvm, byName.modern!.pv32], [4, 1, 1, true, false]);
  assert.deepEqual([byName.pv32!.total, byName.pv32!.byType['pvh-shim'], byName.pv32!.pv32], [3, 1, true]);
  assert.deepEqual([byName.old!.switching, byName.old!.hvm], [1, false]);
  assert.deepEqual(s.attention, [{ id: 4, name: 'g4', host: 'modern', reason: 'could not be brought back', since: T }]);
  assert.deepEqual(s.failures.map((f) => [f.operationId, f.guest, f.host, f.status]), [[1, 'g4', 'modern', 'needs-attention'], [2, 'g1', 'modern', 'rolled-back']]);
  assert.deepEqual(s.running.map((r) => [r.operationId, r.guest, r.host]), [[4, 'g8', 'old']]);
});

test('32-bit guests get the path their kernel and host allow', () => {
  nextId = 100;
  const guests = [
    guest(2, 'pv', 'x86_32p', verdict(false, true, 'x86_32p')), // Debian 686-pae: PVH only
    guest(2, 'pv', 'x86_32p', verdict(true, false, 'x86_32p')), // PV-only 32-bit: the shim
    guest(2, 'pvh-shim', 'x86_32p', verdict(true, false, 'x86_32p')),
    guest(3, 'pv', 'x86_32p', verdict(true, false, 'x86_32p')), // no hvm on the host
    guest(2, 'pv', 'x86_32', verdict(false, false, 'x86_32')),
    guest(1, 'pv', 'x86_64', verdict(true, true, 'x86_64')), // not 32-bit: not listed
  ];
  const s = summarize(guests, hosts, []);
  assert.deepEqual(s.guests32.map((g) => [g.name, g.path]), [['g100', 'pvh'], ['g101', 'pvh-shim'], ['g102', 'done'], ['g103', 'blocked'], ['g104', 'blocked']]);
  assert.match(s.guests32[3]!.why, /no hvm/);
  assert.match(s.guests32[4]!.why, /no PHYS32_ENTRY/);
  assert.deepEqual(path32('pv', null, true), { path: 'unknown', why: 'not inspected yet' });
});

test('lists are bounded; counts stay exact', () => {
  nextId = 1000;
  const guests = Array.from({ length: LIST_LIMIT + 50 }, () => guest(2, 'pv', 'x86_32p', verdict(true, false, 'x86_32p')));
  const s = summarize(guests, hosts, guests.map((g, i) => op(i + 1, g.id, 'rolled-back')));
  assert.equal(s.guests32.length, LIST_LIMIT);
  assert.equal(s.failures.length, LIST_LIMIT);
  assert.equal(s.totals.guests, LIST_LIMIT + 50);
});

test('an empty fleet summarizes to zeros', () => {
  const s = summarize([], [], []);
  assert.deepEqual(s.totals, { guests: 0, hosts: 0, byType: { pv: 0, pvh: 0, 'pvh-shim': 0, hvm: 0 }, attention: 0, switching: 0 });
  assert.deepEqual([s.matrix, s.hosts, s.guests32, s.attention, s.failures, s.running], [[], [], [], [], [], []]);
});
