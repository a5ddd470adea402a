/**
 * `pvhctl overview`: the campaign page's figures (src/fleet/overview.ts) for a terminal or as JSON:
 * PV guests left per week, progress per host and per wave of the plan, failures needing attention,
 * readiness per host. Reads only.
 */
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
without PV, the waves of the default plan (pvhctl campaign plan), and the guests whose switch
rolled back or that need attention, with why. --json gives the same as GET /v1/campaign/overview.
Reads the store only.

exit status: 0 done; 1 failed (one line on stderr); 2 usage error
`;

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
