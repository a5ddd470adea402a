import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../util/rng.ts';
import { assignSlots, DAY_MS, DEFAULT_SETTINGS, fittingOccurrence, mailDue, switchLength, waveOverThreshold, type WaveResult, type WaveSeat } from './campaign-rules.ts';
import { parseWindow, type MaintenanceWindow } from './windows.ts';

const win = (spec: string): MaintenanceWindow => {
  const r = parseWindow(spec);
  assert.ok(r.ok);
  return r.window;
};

test('fittingOccurrence skips an occurrence whose rest is shorter than the switch', () => {
  const w = win('Tue-Thu 02:00-05:00 Europe/Berlin');
  assert.equal(fittingOccurrence(w, new Date('2026-12-08T03:45:00Z'), 15 * 60_000).start.toISOString(), '2026-12-08T01:00:00.000Z');
  assert.equal(fittingOccurrence(w, new Date('2026-12-08T03:50:00Z'), 15 * 60_000).start.toISOString(), '2026-12-09T01:00:00.000Z');
  assert.throws(() => fittingOccurrence(w, new Date('2026-12-08T00:00:00Z'), 4 * 3_600_000), /no occurrence of the window is long enough/);
});

test('property: assignSlots runs waves one after another, each guest in its own host window, one slot per wave and host', () => {
  const r = rng(Number(process.env.PVHCTL_FUZZ_SEED ?? 3));
  const specs = ['Tue-Thu 02:00-05:00 Europe/Berlin', 'daily 22:00-01:00 America/New_York', 'Sat 00:00-06:00 UTC', 'Mon,Wed 23:30-02:30 Australia/Lord_Howe'];
  for (let i = 0; i < 200; i++) {
    const hosts = Array.from({ length: 1 + Math.floor(r() * 4) }, (_, k) => `xen${k}`);
    const windows = new Map(hosts.map((h) => [h, win(specs[Math.floor(r() * specs.length)]!)]));
    const seats: WaveSeat[] = Array.from({ length: 1 + Math.floor(r() * 30) }, () => ({ wave: Math.floor(r() * 5), host: hosts[Math.floor(r() * hosts.length)]! }));
    const from = new Date(Date.UTC(2026, 0, 1) + Math.floor(r() * 700) * DAY_MS + Math.floor(r() * DAY_MS));
    const est = 15 * 60_000;
    const slots = assignSlots(seats, windows, from, est);
    seats.forEach((s, k) => {
      const o = slots[k]!;
      assert.ok(o.start.getTime() + est <= o.end.getTime() && o.end > from);
      // It is an occurrence of its host's window.
      assert.deepEqual(fittingOccurrence(windows.get(s.host)!, o.start, est), o);
      seats.forEach((t, m) => {
        if (t.wave > s.wave) assert.ok(slots[m]!.start >= o.end, `wave ${t.wave} starts before wave ${s.wave} ends`);
        if (t.wave === s.wave && t.host === s.host) assert.deepEqual(slots[m], o);
      });
    });
  }
});

test('waveOverThreshold: any canary failure, more than 10% after, acknowledged failures no longer count', () => {
  const res = (wave: number, kind: WaveResult['kind'], failed: number, ok: number, acknowledged = false): WaveResult[] => [
    ...Array.from({ length: failed }, () => ({ wave, kind, failed: true, acknowledged })),
    ...Array.from({ length: ok }, () => ({ wave, kind, failed: false, acknowledged: false })),
  ];
  assert.equal(waveOverThreshold(res(0, 'canary', 0, 5), DEFAULT_SETTINGS), null);
  assert.deepEqual(waveOverThreshold(res(0, 'canary', 1, 4), DEFAULT_SETTINGS), { wave: 0, kind: 'canary', failed: 1, size: 5, threshold: 0 });
  assert.equal(waveOverThreshold(res(0, 'canary', 1, 4, true), DEFAULT_SETTINGS), null);
  assert.equal(waveOverThreshold(res(1, 'main', 1, 9), DEFAULT_SETTINGS), null, '10% is not above 10%');
  assert.deepEqual(waveOverThreshold([...res(1, 'main', 1, 9), ...res(2, 'main', 2, 8)], DEFAULT_SETTINGS), { wave: 2, kind: 'main', failed: 2, size: 10, threshold: 0.1 });
});

test('mailDue: the notice from N days before (late when the slot came later), the reminder the day before, nothing after the slot', () => {
  const slot = { start: new Date('2026-12-09T01:00:00Z'), end: new Date('2026-12-09T04:00:00Z') };
  const key = slot.start.toISOString();
  const at = (iso: string, notice: string | null = null, reminder: string | null = null, days = 7) => mailDue(new Date(iso), slot, { notice, reminder }, days);
  assert.equal(at('2026-12-02T00:59:59Z'), null);
  assert.equal(at('2026-12-02T01:00:00Z'), 'notice');
  assert.equal(at('2026-12-05T00:00:00Z', key), null);
  assert.equal(at('2026-12-08T01:00:00Z', key), 'reminder');
  assert.equal(at('2026-12-08T01:00:00Z', key, key), null);
  // A notice for an older slot does not count for this one.
  assert.equal(at('2026-12-08T01:00:00Z', '2026-12-01T01:00:00.000Z'), 'notice');
  // No notice period: told inside the slot, never after it.
  assert.equal(at('2026-12-09T01:00:00Z', null, null, 0), 'notice');
  assert.equal(at('2026-12-09T02:00:00Z', key, null, 0), null);
  assert.equal(at('2026-12-09T04:00:00Z', null, null, 0), null);
});

test('switchLength: the estimate, or the longest measured switch on the host when longer', () => {
  assert.equal(switchLength(900_000, []), 900_000);
  assert.equal(switchLength(900_000, [40_000, 60_000]), 900_000);
  assert.equal(switchLength(900_000, [40_000, 1_200_000, Number.NaN, -5]), 1_200_000);
});
