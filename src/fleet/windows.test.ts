import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../util/rng.ts';
import { fitsIn, formatWindow, instantOf, occurrenceAt, occurrences, parseWindow, wallClock, type MaintenanceWindow, type Weekday } from './windows.ts';

const parsed = (spec: string): MaintenanceWindow => {
  const r = parseWindow(spec);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.window;
};
const iso = (d: Date) => d.toISOString();

test('parseWindow reads days, ranges, wrapping ranges, daily and a time zone, and says why not in one line', () => {
  assert.deepEqual(parsed('Tue-Thu 02:00-05:00 Europe/Berlin'), { days: [2, 3, 4], start: 120, end: 300, timeZone: 'Europe/Berlin' });
  assert.deepEqual(parsed('Fri-Mon 22:00-02:00 America/New_York').days, [0, 1, 5, 6]);
  assert.deepEqual(parsed('mon,wed,FRI 01:00-03:00').days, [1, 3, 5]);
  assert.equal(parsed('mon,wed,FRI 01:00-03:00').timeZone, 'UTC');
  assert.equal(parsed('daily 22:00-24:00 UTC').end, 0);
  assert.equal(parseWindow('Tue 02:00-05:00', 'Asia/Tokyo').ok && parsed('Tue 02:00-05:00 Asia/Tokyo').timeZone, 'Asia/Tokyo');
  for (const [spec, why] of [
    ['Tue 02:00-02:00 UTC', /the time range is empty/],
    ['Tux 02:00-05:00', /"Tux" is not a day/],
    ['Tue 25:00-26:00', /is not a time range/],
    ['Tue 02:00-05:00 Mars/Olympus', /"Mars\/Olympus" is not an IANA time zone/],
    ['Tue', /expected DAYS HH:MM-HH:MM/],
    ['x'.repeat(500), /longer than 120/],
  ] as const) {
    const r = parseWindow(spec);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.match(r.error, why);
      assert.doesNotMatch(r.error, /\n/);
    }
  }
  assert.equal(formatWindow(parsed('Tue-Thu 02:00-05:00 Europe/Berlin')), 'Tue-Thu 02:00-05:00 Europe/Berlin');
  assert.equal(formatWindow(parsed('Sat,Mon 22:30-01:00 UTC')), 'Mon,Sat 22:30-01:00 UTC');
});

test('occurrences in Berlin: winter CET and summer CEST, and the one that contains now comes first', () => {
  const w = parsed('Tue-Thu 02:00-05:00 Europe/Berlin');
  // Sunday 6 Dec 2026: the next is Tuesday 8 Dec 02:00 CET = 01:00Z.
  const [a, b, c, d] = occurrences(w, new Date('2026-12-06T22:00:00Z'), 4);
  assert.deepEqual([a, b, c, d].map((o) => `${iso(o!.start)} ${iso(o!.end)}`), [
    '2026-12-08T01:00:00.000Z 2026-12-08T04:00:00.000Z',
    '2026-12-09T01:00:00.000Z 2026-12-09T04:00:00.000Z',
    '2026-12-10T01:00:00.000Z 2026-12-10T04:00:00.000Z',
    '2026-12-15T01:00:00.000Z 2026-12-15T04:00:00.000Z',
  ]);
  // Inside one: that one; at its end: the next.
  assert.equal(iso(occurrenceAt(w, new Date('2026-12-08T03:59:00Z')).start), '2026-12-08T01:00:00.000Z');
  assert.equal(iso(occurrenceAt(w, new Date('2026-12-08T04:00:00Z')).start), '2026-12-09T01:00:00.000Z');
  // July: CEST, 02:00 local = 00:00Z.
  assert.equal(iso(occurrenceAt(w, new Date('2026-07-05T12:00:00Z')).start), '2026-07-07T00:00:00.000Z');
});

test('DST edges: the skipped hour moves forward, the repeated hour takes the earlier instant, the window keeps its wall-clock end', () => {
  // Europe/Berlin springs forward on Sun 29 Mar 2026 at 02:00 CET -> 03:00 CEST.
  assert.equal(iso(new Date(instantOf(Date.UTC(2026, 2, 29, 2, 30), 'Europe/Berlin'))), '2026-03-29T01:30:00.000Z');
  const spring = occurrenceAt(parsed('Sun 02:00-05:00 Europe/Berlin'), new Date('2026-03-28T12:00:00Z'));
  // 02:00 does not exist: the window opens at 03:00 CEST (01:00Z) and closes at 05:00 CEST (03:00Z).
  assert.deepEqual([iso(spring.start), iso(spring.end)], ['2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000Z']);
  // It falls back on Sun 25 Oct 2026 at 03:00 CEST -> 02:00 CET: 02:30 happens twice; the first is 00:30Z.
  assert.equal(iso(new Date(instantOf(Date.UTC(2026, 9, 25, 2, 30), 'Europe/Berlin'))), '2026-10-25T00:30:00.000Z');
  const autumn = occurrenceAt(parsed('Sun 02:00-05:00 Europe/Berlin'), new Date('2026-10-24T12:00:00Z'));
  // Four hours long that night: 02:00 CEST (00:00Z) to 05:00 CET (04:00Z).
  assert.deepEqual([iso(autumn.start), iso(autumn.end)], ['2026-10-25T00:00:00.000Z', '2026-10-25T04:00:00.000Z']);
  // New York springs forward at 02:00 too (8 Mar 2026): a window across midnight still ends at 02:00 wall (= 03:00 EDT).
  const ny = occurrenceAt(parsed('Sat 23:00-02:00 America/New_York'), new Date('2026-03-07T12:00:00Z'));
  assert.deepEqual([iso(ny.start), iso(ny.end)], ['2026-03-08T04:00:00.000Z', '2026-03-08T07:00:00.000Z']);
  // Lord Howe moves by 30 minutes; Kathmandu is +05:45.
  assert.equal(iso(occurrenceAt(parsed('daily 02:00-03:00 Asia/Kathmandu'), new Date('2026-12-06T00:00:00Z')).start), '2026-12-06T20:15:00.000Z');
});

test('fitsIn: a switch starts only inside the occurrence and only when it can end before it closes', () => {
  const o = { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z') };
  assert.equal(fitsIn(o, new Date('2026-12-08T00:59:59Z'), 60_000), false);
  assert.equal(fitsIn(o, new Date('2026-12-08T01:00:00Z'), 60_000), true);
  assert.equal(fitsIn(o, new Date('2026-12-08T03:45:00Z'), 15 * 60_000), true);
  assert.equal(fitsIn(o, new Date('2026-12-08T03:45:01Z'), 15 * 60_000), false);
});

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Santiago', 'Pacific/Chatham', 'Europe/London', 'Australia/Sydney'];

test('property: random windows and times over DST transitions; every occurrence is on one of its days, in order, without overlap, and its start is the wall time or the end of a gap', () => {
  const r = rng(Number(process.env.PVHCTL_FUZZ_SEED ?? 14));
  const pick = (n: number) => Math.floor(r() * n);
  for (let i = 0; i < 400; i++) {
    const days = [...new Set(Array.from({ length: 1 + pick(7) }, () => pick(7) as Weekday))].sort();
    const start = pick(48) * 30;
    let end = pick(48) * 30;
    if (end === start) end = (start + 30) % 1440;
    const w: MaintenanceWindow = { days, start, end, timeZone: ZONES[pick(ZONES.length)]! };
    const from = new Date(Date.UTC(2026, 0, 1) + pick(365 * 2) * 86_400_000 + pick(86_400) * 1000);
    const os = occurrences(w, from, 6);
    const msg = `${formatWindow(w)} from ${iso(from)}`;
    assert.ok(os[0]!.end > from, msg);
    for (const [k, o] of os.entries()) {
      assert.ok(o.start < o.end, `${msg}: occurrence ${k} empty`);
      // Within a day of the nominal length, whatever the zone did that night.
      const nominal = ((end - start + 1440) % 1440) * 60_000;
      assert.ok(Math.abs(o.end.getTime() - o.start.getTime() - nominal) <= 3_600_000, msg);
      const wall = wallClock(o.start.getTime(), w.timeZone);
      const minute = Math.floor((wall % 86_400_000) / 60_000);
      const day = new Date(wall).getUTCDay() as Weekday;
      if (minute === start) assert.ok(days.includes(day), `${msg}: starts on day ${day}`);
      else {
        // Only a gap can move it, forward by at most the gap (an hour here).
        assert.ok(((minute - start + 1440) % 1440) <= 60, `${msg}: starts at ${minute}, not ${start}`);
        assert.notEqual(wallClock(o.start.getTime() - 60 * 60_000, w.timeZone) + 60 * 60_000, wall, `${msg}: moved without a gap`);
      }
      if (k > 0) assert.ok(os[k - 1]!.end <= o.start, `${msg}: occurrences ${k - 1} and ${k} overlap`);
      // Any instant inside is found as this occurrence.
      const inside = new Date(o.start.getTime() + pick(o.end.getTime() - o.start.getTime()));
      assert.deepEqual(occurrenceAt(w, inside), o, msg);
    }
  }
});

test('property: instantOf inverts wallClock for every instant (the earlier of two when the wall time repeats)', () => {
  const r = rng(7);
  for (let i = 0; i < 2000; i++) {
    const tz = ZONES[Math.floor(r() * ZONES.length)]!;
    const t = Date.UTC(2026, 0, 1) + Math.floor(r() * 365 * 86_400) * 1000;
    const back = instantOf(wallClock(t, tz), tz);
    assert.equal(wallClock(back, tz), wallClock(t, tz));
    assert.ok(back <= t, `${tz} ${new Date(t).toISOString()}`);
  }
});

test('fuzz: window specs from customers and operators, hostile and mutated, never throw; an error is one bounded line and a window read back formats to a spec that reads the same (bounded run)', () => {
  const seed = Date.now() % 1_000_000;
  const r = rng(seed);
  const valid = ['Tue-Thu 02:00-05:00 Europe/Berlin', 'daily 22:00-02:00 UTC', 'Mon,Wed,Fri 01:30-04:00 America/New_York', 'Fri-Mon 00:00-23:59'];
  const alphabet = 'MonTueWedThuFriSatSundaily0123456789:-, /_+\t\n\u0000\u202e\u00e9';
  const pick = (s: string) => s[Math.floor(r() * s.length)]!;
  for (let i = 0; i < 3000; i++) {
    let spec: string;
    if (i % 3 === 0) spec = Array.from({ length: Math.floor(r() * 40) }, () => pick(alphabet)).join('');
    else {
      const chars = [...valid[i % valid.length]!];
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++) {
        const at = Math.floor(r() * (chars.length + 1));
        if (r() < 0.5) chars.splice(at, 1);
        else chars.splice(at, 0, pick(alphabet));
      }
      spec = chars.join('');
    }
    if (i % 500 === 0) spec = spec.repeat(1 + Math.floor(r() * 200));
    let got: ReturnType<typeof parseWindow>;
    assert.doesNotThrow(() => (got = parseWindow(spec)), `seed ${seed}: ${JSON.stringify(spec.slice(0, 200))}`);
    if (got!.ok) {
      const again = parseWindow(formatWindow(got!.window));
      assert.ok(again.ok, `seed ${seed}: ${formatWindow(got!.window)}`);
      assert.deepEqual(again.window, got!.window, `seed ${seed}: ${JSON.stringify(spec)}`);
    } else {
      assert.equal(got!.error.includes('\n'), false, `seed ${seed}: ${JSON.stringify(got!.error)}`);
      assert.ok(got!.error.length < 400, `seed ${seed}: ${got!.error.length}`);
    }
  }
});
