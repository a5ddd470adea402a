/**
 * Maintenance windows (issue #14): a host's recurring window, such as `Tue-Thu 02:00-05:00
 * Europe/Berlin`, parsed once at the edge, and its occurrences as UTC instants. Pure: the time zone
 * rules come from the ICU data Node carries (Intl.DateTimeFormat), the current time is an argument.
 *
 * Wall times that do not exist (the hour skipped when clocks go forward) are moved forward by the
 * gap, and wall times that happen twice (the hour repeated when clocks go back) take the earlier
 * instant: RFC 5545's rule for DTSTART in a gap, and Temporal's `disambiguation: 'compatible'`.
 */

/** Days of the week as Date.getUTCDay numbers them: 0 Sunday ... 6 Saturday. */
export type Weekday = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** Minutes after local midnight, 0..1439. */
export type WallMinute = number;

/**
 * A recurring window: on each day in `days` from `start` to `end` local time in `timeZone`;
 * `end <= start` runs past midnight into the next day.
 */
export type MaintenanceWindow = { days: readonly Weekday[]; start: WallMinute; end: WallMinute; timeZone: string };

/** One occurrence of a window, as instants. */
export type WindowOccurrence = { start: Date; end: Date };

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const MINUTE = 60_000;
const DAY = 86_400_000;
/** A window spec is one short line. */
const MAX_SPEC = 120;

/**
 * Whether `tz` is an IANA time zone Node knows.
 * @example
 * isTimeZone('Europe/Berlin') // => true
 * isTimeZone('Mars/Olympus') // => false
 */
export function isTimeZone(tz: string): boolean {
  if (tz.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * An IANA time zone given by a person, checked and in its canonical spelling, or why not (one line).
 * @example
 * parseTimeZone('europe/berlin') // => { ok: true, zone: 'Europe/Berlin' }
 * parseTimeZone('Mars/Olympus') // => { ok: false, error: '"Mars/Olympus" is not an IANA time zone (Europe/Berlin, UTC)' }
 */
export function parseTimeZone(text: string): { ok: true; zone: string } | { ok: false; error: string } {
  if (!isTimeZone(text)) return { ok: false, error: `${JSON.stringify(text.slice(0, 64))} is not an IANA time zone (Europe/Berlin, UTC)` };
  return { ok: true, zone: new Intl.DateTimeFormat('en-US', { timeZone: text }).resolvedOptions().timeZone };
}

const dayOf = (s: string): Weekday | null => {
  const i = DAY_NAMES.indexOf(s.toLowerCase().slice(0, 3) as (typeof DAY_NAMES)[number]);
  return i < 0 || s.length > 9 ? null : (i as Weekday);
};

const minuteOf = (s: string): WallMinute | null => {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s);
  if (m === null) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  // 24:00 is the end of the day, as ISO 8601 allows.
  if (h === 24 && min === 0) return 0;
  return h < 24 && min < 60 ? h * 60 + min : null;
};

/**
 * Parses a window spec: days (`Tue-Thu`, `Mon,Wed,Fri`, `Fri-Mon`, `daily`), a time range
 * (`02:00-05:00`, `22:00-02:00` past midnight) and an IANA time zone (`defaultZone` when left out).
 * Returns the window or why not, in one line.
 * @example
 * parseWindow('Tue-Thu 02:00-05:00 Europe/Berlin') // => { ok: true, window: { days: [2, 3, 4], start: 120, end: 300, timeZone: 'Europe/Berlin' } }
 * parseWindow('Tue 02:00-02:00 UTC') // => { ok: false, error: 'window "Tue 02:00-02:00 UTC": the time range is empty' }
 */
export function parseWindow(spec: string, defaultZone = 'UTC'): { ok: true; window: MaintenanceWindow } | { ok: false; error: string } {
  const shown = JSON.stringify(spec.slice(0, MAX_SPEC));
  const bad = (why: string) => ({ ok: false as const, error: `window ${shown}: ${why}` });
  if (spec.length > MAX_SPEC) return bad(`longer than ${MAX_SPEC} characters`);
  const parts = spec.trim().split(/\s+/);
  if (parts.length < 2 || parts.length > 3) return bad('expected DAYS HH:MM-HH:MM [TIME_ZONE], e.g. Tue-Thu 02:00-05:00 Europe/Berlin');
  const [daysText, timesText, zone = defaultZone] = parts as [string, string, string?];
  const days = new Set<Weekday>();
  if (daysText.toLowerCase() === 'daily') for (let d = 0; d < 7; d++) days.add(d as Weekday);
  else
    for (const item of daysText.split(',')) {
      const [a, b, ...more] = item.split('-');
      const from = dayOf(a ?? '');
      const to = b === undefined ? from : dayOf(b);
      if (from === null || to === null || more.length > 0) return bad(`${JSON.stringify(item.slice(0, 20))} is not a day or a range of days (Mon, Tue-Thu)`);
      for (let d = from; ; d = ((d + 1) % 7) as Weekday) {
        days.add(d);
        if (d === to) break;
      }
    }
  const [s, e, ...extra] = timesText.split('-');
  const start = minuteOf(s ?? '');
  const end = minuteOf(e ?? '');
  if (start === null || end === null || extra.length > 0) return bad(`${JSON.stringify(timesText.slice(0, 20))} is not a time range (02:00-05:00)`);
  if (start === end) return bad('the time range is empty');
  const tz = parseTimeZone(zone);
  if (!tz.ok) return bad(tz.error);
  return { ok: true, window: { days: [...days].sort(), start, end, timeZone: tz.zone } };
}

/**
 * The window as its spec, for show and JSON.
 * @example
 * formatWindow({ days: [2, 3, 4], start: 120, end: 300, timeZone: 'Europe/Berlin' }) // => 'Tue-Thu 02:00-05:00 Europe/Berlin'
 */
export function formatWindow(w: MaintenanceWindow): string {
  const name = (d: number) => DAY_NAMES[d]![0]!.toUpperCase() + DAY_NAMES[d]!.slice(1);
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  // Runs of consecutive days as ranges.
  const runs: string[] = [];
  const ds = [...w.days];
  for (let i = 0; i < ds.length; ) {
    let j = i;
    while (j + 1 < ds.length && ds[j + 1] === ds[j]! + 1) j++;
    runs.push(j - i >= 2 ? `${name(ds[i]!)}-${name(ds[j]!)}` : ds.slice(i, j + 1).map(name).join(','));
    i = j + 1;
  }
  return `${ds.length === 7 ? 'daily' : runs.join(',')} ${hhmm(w.start)}-${hhmm(w.end)} ${w.timeZone}`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const formatter = (tz: string) => {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
};

/**
 * The wall clock in `tz` at instant `t`, as milliseconds of a UTC date with the same fields.
 * @example
 * new Date(wallClock(Date.UTC(2026, 6, 1, 12), 'Europe/Berlin')).toISOString() // => '2026-07-01T14:00:00.000Z'
 */
export function wallClock(t: number, tz: string): number {
  const p = Object.fromEntries(formatter(tz).formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  // formatToParts has no milliseconds; keep them from t (no zone has a sub-second offset today).
  return wall + (((t % 1000) + 1000) % 1000);
}

/** The zone's UTC offset at `t`, in milliseconds (Berlin in summer: +7,200,000). */
const offsetAt = (t: number, tz: string) => wallClock(t, tz) - t;

/**
 * The instant at wall time `wall` (a UTC date with the wall clock's fields) in `tz`: a skipped
 * wall time moves forward by the gap, a repeated one takes the earlier instant.
 * @example
 * new Date(instantOf(Date.UTC(2026, 2, 29, 2, 30), 'Europe/Berlin')).toISOString() // => '2026-03-29T01:30:00.000Z' (03:30 CEST)
 */
export function instantOf(wall: number, tz: string): number {
  // The offsets a day either side bracket any one transition (zones change at most once a day).
  const before = offsetAt(wall - DAY, tz);
  const after = offsetAt(wall + DAY, tz);
  const fits = [wall - before, wall - after].filter((u) => wallClock(u, tz) === wall);
  if (fits.length > 0) return Math.min(...fits);
  // In the gap: the old offset gives the instant as far past the transition as the wall time is.
  return wall - before;
}

const weekdayOf = (wallDay: number) => new Date(wallDay).getUTCDay() as Weekday;

/**
 * The window's occurrence that contains `t` or comes next after it (an occurrence that ends at
 * `t` is over). Searches at most two weeks ahead; a window always has one in that span.
 * @example
 * occurrenceAt(berlinTueThu, new Date('2026-12-08T00:00:00Z')) // => { start: 2026-12-08T01:00Z, end: 2026-12-08T04:00Z } (Tue 02:00-05:00 CET)
 */
export function occurrenceAt(w: MaintenanceWindow, t: Date): WindowOccurrence {
  const now = t.getTime();
  const today = Math.floor(wallClock(now, w.timeZone) / DAY) * DAY;
  // From yesterday: a window past midnight may have begun the day before.
  for (let day = today - DAY; day <= today + 15 * DAY; day += DAY) {
    if (!w.days.includes(weekdayOf(day))) continue;
    const start = instantOf(day + w.start * MINUTE, w.timeZone);
    const end = instantOf(day + (w.end <= w.start ? DAY : 0) + w.end * MINUTE, w.timeZone);
    if (end > now && end > start) return { start: new Date(start), end: new Date(end) };
  }
  throw new Error(`window ${formatWindow(w)} has no occurrence in the two weeks after ${t.toISOString()}`);
}

/**
 * The first `n` occurrences from `t` on (the one containing `t` first).
 * @example
 * occurrences(berlinTueThu, new Date('2026-12-08T00:00:00Z'), 2) // => [Tue 8 Dec 01:00-04:00Z, Wed 9 Dec 01:00-04:00Z]
 */
export function occurrences(w: MaintenanceWindow, t: Date, n: number): WindowOccurrence[] {
  const out: WindowOccurrence[] = [];
  let at = t;
  while (out.length < n) {
    const o = occurrenceAt(w, at);
    out.push(o);
    at = o.end;
  }
  return out;
}

/**
 * Whether a switch expected to take `durationMs` may start at `t` in occurrence `o`: inside it,
 * and done before it closes.
 * @example
 * fitsIn({ start: 01:00Z, end: 04:00Z }, 03:50Z, 15 * 60_000) // => false
 */
export function fitsIn(o: WindowOccurrence, t: Date, durationMs: number): boolean {
  return t.getTime() >= o.start.getTime() && t.getTime() + durationMs <= o.end.getTime();
}
