/**
 * `pvhctl readiness`: per host and fleet-wide, whether each host could boot a Xen without 32-bit
 * PV or without PV today, and if not the guests in the way with their paths; which guests need
 * HVM (src/fleet/readiness.ts). Reads only.
 */
import { readPlanInput } from '../fleet/plan-input.ts';
import { fleetReadiness, type FleetReadiness } from '../fleet/readiness.ts';
import { needsHvmWords, readinessView, readyWords } from '../fleet/readiness-words.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, open, output } from './fleet-common.ts';

export const help = `usage: pvhctl readiness [--host HOST]... [--json]

Says, per host and for the fleet, whether each host could boot a Xen built without 32-bit PV
(CONFIG_PV32=n: the next Xen runs 32-bit PV guests only inside the PV shim) or without PV at all,
today: yes, or no and the guests in the way with each one's way off PV (switch now, the shim, a
reboot or a kernel upgrade first, blocked and why). Guests on the PV shim are in nobody's way. It
also lists the guests that need HVM (their kernel boots neither PV nor PVH, or every PVH target
rolled back, or they run as HVM on a pv-pvh host): they belong on an hvm-dedicated host. A PV guest
never inspected counts as 32-bit until a scan tells. Reads the store only.

exit status: 0 done; 1 failed (one line on stderr); 2 usage error
`;

function human(r: FleetReadiness): string {
  const p = printable;
  const t = r.totals;
  const lines: string[] = [];
  for (const h of r.hosts) {
    const unknown = h.pv32Unknown > 0 ? `, ${h.pv32Unknown} of unknown width` : '';
    lines.push(`${p(h.host)}  ${h.role}  ${h.guests} guests, ${h.pvLeft} PV (${h.pv32Left} 32-bit${unknown})`);
    lines.push(`  without 32-bit PV: ${p(readyWords(h.withoutPv32, 'pv32'))}`);
    lines.push(`  without PV:        ${p(readyWords(h.withoutPv, 'pv'))}`);
    for (const n of h.needsHvm) lines.push(`  needs HVM: ${p(n.name)}: ${needsHvmWords(n.why)}`);
  }
  lines.push(
    '',
    `fleet: ${t.hosts} hosts, ${t.guests} guests; ${t.pvLeft} PV left, ${t.pv32Left} 32-bit PV${t.pv32Unknown > 0 ? ` (and ${t.pv32Unknown} not yet inspected)` : ''}`,
    `ready for a Xen without 32-bit PV: ${t.readyWithoutPv32} of ${t.hosts} hosts; without PV: ${t.readyWithoutPv} of ${t.hosts}; ${t.needsHvm} guests need HVM`,
  );
  return lines.join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, host: { type: 'string', multiple: true } });
  if (positionals.length > 0) throw new UsageError(`readiness takes no arguments, got ${JSON.stringify(positionals[0]!.slice(0, 40))}`);
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
  try {
    const { hosts, guests } = await readPlanInput(fleet.store, values.host ?? []);
    const r = fleetReadiness(hosts, guests);
    output(values.json, readinessView(r), () => human(r));
    return 0;
  } finally {
    await fleet.close();
  }
}
