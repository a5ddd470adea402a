/**
 * `pvhctl overview`: the campaign page's figures (src/fleet/overview.ts) for a terminal or as JSON:
 * PV guests left per week, progress per host and per wave of the plan, failures needing attention,
 * readiness per host. Reads only.
 */
import type { CampaignProgress } from '../fleet/campaign-progress.ts';
import { readOverview } from '../fleet/overview-input.ts';
import type { Overview } from '../fleet/overview.ts';
import { readinessView, readyWords } from '../fleet/readiness-words.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, open, output, table } from './fleet-common.ts';

export const help = `usage: pvhctl overview [--host HOST] [--weeks N] [--json]

Prints what the web UI's campaign page shows: PV guests left at the end of each of the last N
weeks (default 12; rebuilt from the switches and rollbacks in the journal), switches off PV and
rollbacks per week, each host's guests by mode and its readiness for a Xen without 32-bit PV or
without PV, the waves of the default plan (pvhctl campaign plan), the guests whose switch
rolled back or that need attention, with why, and each campaign (the 20 newest): its state and
why it paused, the wave it is at, its guests by where they are, the next slot, each wave, and
its failed and held guests. --json gives the same as GET /v1/campaign/overview.
Reads the store only.

exit status: 0 done; 1 failed (one line on stderr); 2 usage error
`;

const when = (iso: string) => iso.replace(/:00\.000Z$/, 'Z');

/**
 * One campaign's progress in words, a line each (guest, host, window and reason text escaped).
 * @example
 * campaignLines(progress)
 * // => ['campaign winter: paused since 2026-12-06T12:00Z, slots until 2027-01-31T12:00Z',
 * //     '  paused: wave 0 (canary): 1 of 1 failed, ...', '  at wave 0 (canary); next slot 2026-12-09T01:00Z..2026-12-09T04:00Z: 3 on sim1', ...]
 */
export function campaignLines(c: CampaignProgress): string[] {
  const p = printable;
  const n = c.counts;
  const lines = [`campaign ${p(c.name)}: ${c.state}${c.startedAt === null ? '' : ` since ${when(c.startedAt)}`}${c.endsAt === null ? '' : `, slots until ${when(c.endsAt)}`}`];
  if (c.pauseReason !== null) lines.push(`  paused: ${p(c.pauseReason)}`);
  const wave = c.wave === null ? 'no wave left to run' : `at wave ${c.wave.n}${c.wave.kind === 'canary' ? ' (canary)' : ''}`;
  const next = c.nextSlot === null ? 'no slot ahead' : `next slot ${when(c.nextSlot.start)}..${when(c.nextSlot.end)}: ${c.nextSlot.hosts.map((h) => `${h.guests} on ${p(h.host)}`).join(', ')}`;
  lines.push(`  ${wave}; ${next}`);
  lines.push(`  guests: ${n.switched} switched, ${n.running} switching now, ${n.notified} notified and waiting for their slot, ${n.waiting} not yet notified, ${n.failed} failed, ${n.held} held back, ${n.already} already PVH or HVM, ${n.skipped} skipped; ${n.chose} chose their own time`);
  for (const [host, w] of Object.entries(c.windows)) lines.push(`  window ${p(host)}: ${p(w)}`);
  for (const w of c.waves) lines.push(`  wave ${w.n}${w.kind === 'canary' ? ' (canary)' : ''}: ${w.guests} guests, ${w.switched} switched, ${w.running} switching, ${w.failed} failed, ${w.planned} to come`);
  for (const f of c.failed) lines.push(`  failed ${p(f.host)}/${p(f.guest)}: ${f.status}${f.reason === null ? '' : ` (${p(f.reason)})`}`);
  for (const h of c.held) lines.push(`  held ${p(h.host)}/${p(h.guest)}: ${p(h.words)}`);
  const more = n.failed - c.failed.length + (n.held - c.held.length);
  if (more > 0) lines.push(`  and ${more} more failed or held: pvhctl campaign show ${p(c.name)}`);
  return lines;
}

function human(o: Overview): string {
  const p = printable;
  const t = o.totals;
  const lines = [`${t.pvLeft} PV guests left of ${t.guests} (${t.pv32Left} 32-bit); ${t.offPv} moved off PV and ${t.rolledBack} switches rolled back in ${o.weeks.length} weeks; ${t.attention} need attention`, ''];
  const bar = (n: number, max: number) => '#'.repeat(max > 0 ? Math.round((n / max) * 40) : 0);
  const max = Math.max(0, ...o.weeks.map((w) => w.pvLeft ?? 0));
  lines.push(table(['week of', 'PV left', '', 'off PV', 'rolled back'], o.weeks.map((w) => [w.week, w.pvLeft === null ? '?' : String(w.pvLeft), bar(w.pvLeft ?? 0, max), String(w.offPv), String(w.rolledBack)])).trimEnd(), '');
  const ready = new Map(o.readiness.hosts.map((r) => [r.host, r]));
  lines.push(
    table(
      ['host', 'PV', 'PVH', 'shim', 'HVM', 'attention', 'without 32-bit PV', 'without PV'],
      o.hosts.map((h) => {
        const r = ready.get(h.host)!;
        return [p(h.host), String(h.byType.pv), String(h.byType.pvh), String(h.byType['pvh-shim']), String(h.byType.hvm), String(h.attention), r.withoutPv32.kind === 'not-ready' ? 'no' : r.withoutPv32.kind, r.withoutPv.kind === 'not-ready' ? 'no' : r.withoutPv.kind];
      }),
    ).trimEnd(),
  );
  for (const r of o.readiness.hosts) if (r.withoutPv32.kind === 'not-ready') lines.push(`${p(r.host)}: without 32-bit PV: ${p(readyWords(r.withoutPv32, 'pv32'))}`);
  lines.push('', `plan: ${o.waves.length} waves (${o.waves.reduce((n, w) => n + w.toPvh, 0)} to PVH, ${o.waves.reduce((n, w) => n + w.toShim, 0)} to the shim); held back: ${Object.entries(o.held).filter(([k]) => k !== 'done').map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}`);
  if (o.failures.length > 0) {
    lines.push('', 'failures needing attention');
    for (const f of o.failures) lines.push(`  ${p(f.host)}/${p(f.guest)}  ${f.status}  ${p(f.reason)}`);
  }
  lines.push('', o.campaigns.length === 0 ? 'no campaigns' : 'campaigns', ...o.campaigns.flatMap(campaignLines));
  return lines.join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, host: { type: 'string' }, weeks: { type: 'string' } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`overview takes no arguments, got ${JSON.stringify(positionals[0]!.slice(0, 40))}`);
  const weeks = values.weeks === undefined ? 12 : Number(values.weeks);
  if (!/^\d{1,3}$/.test(values.weeks ?? '12') || weeks < 1 || weeks > 104) throw new UsageError('--weeks takes a whole number from 1 to 104');
  const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
  try {
    const o = await readOverview(fleet.store, { weeks, now: Date.now(), ...(values.host === undefined ? {} : { hostNames: [values.host] }) });
    output(values.json, { ...o, readiness: readinessView(o.readiness) }, () => human(o));
    return 0;
  } finally {
    await fleet.close();
  }
}
