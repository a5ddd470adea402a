/**
 * `pvhctl campaign plan`: the migration campaign's plan (src/fleet/planner.ts) over the store's
 * hosts and guests, printed for an operator or as JSON. Reads only: a plan changes nothing.
 */
import { planCampaign, type CampaignPlan, type CampaignPolicy, type HeldGuest, type Pv32First } from '../fleet/planner.ts';
import { readPlanInput } from '../fleet/plan-input.ts';
import { customerPathWords, operatorPathWords } from '../fleet/plan-words.ts';
import { printable } from '../util/escape.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, open, output } from './fleet-common.ts';

export const help = `usage: pvhctl campaign plan [--host HOST]... [--canary N] [--per-host N]
                            [--pv32-first all|none|HOST,HOST...] [--json]

Plans a PV to PVH campaign over the guests pvhctl knows (the last scan's verdicts, the switches
that rolled back, the newest rehearsals) and prints it, changing nothing. Each guest gets a path:
pvh now, the PV shim, after its customer reboots into an installed PVH kernel, after a kernel
upgrade, blocked (with why), or done. The switchable ones go in waves: a canary wave of N guests
first (--canary, default 5; 0 for none), then waves in which each host switches at most its
--max-parallel guests, or --per-host N when lower. --pv32-first moves the 32-bit PV guests
(xen-3.0-x86_32p) of the hosts named (or of all) into waves ahead of their others, for hosts whose
next Xen is built without 32-bit PV. Everyone else is held back with the reason.

exit status: 0 done; 1 failed (one line on stderr); 2 usage error
`;

/**
 * A count option: a whole number from `min` up, or a usage error naming the option.
 * @example
 * count('--canary', '5', 0) // => 5
 */
function count(name: string, value: string | undefined, min: number, dflt: number | null): number | null {
  if (value === undefined) return dflt;
  if (!/^\d{1,6}$/.test(value) || Number(value) < min) throw new UsageError(`${name} takes a whole number from ${min}, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

/**
 * --pv32-first's value.
 * @example
 * pv32First('xen1,xen2') // => { kind: 'hosts', hosts: ['xen1', 'xen2'] }
 */
function pv32First(value: string | undefined): Pv32First {
  if (value === undefined || value === 'none') return { kind: 'none' };
  if (value === 'all') return { kind: 'all' };
  const hosts = value.split(',').filter(Boolean);
  if (hosts.length === 0) throw new UsageError('--pv32-first takes all, none or a list of hosts');
  return { kind: 'hosts', hosts };
}

/** The plan as JSON: the policy, the waves, and the held guests with their words. */
const asJson = (policy: CampaignPolicy, plan: CampaignPlan) => ({
  policy,
  waves: plan.waves,
  held: plan.held.map((h) => ({ ...h, words: { operator: operatorPathWords(h.path), customer: customerPathWords(h.path) } })),
});

function human(plan: CampaignPlan): string {
  const p = printable;
  const lines: string[] = [];
  const switches = plan.waves.reduce((n, w) => n + w.hosts.reduce((m, h) => m + h.switches.length, 0), 0);
  lines.push(`${switches} guests in ${plan.waves.length} waves; ${plan.held.length} held back`);
  for (const w of plan.waves) {
    lines.push('', `wave ${w.n}${w.kind === 'canary' ? ' (canary)' : ''}`);
    for (const h of w.hosts) {
      lines.push(`  ${p(h.host)}  (at most ${h.limit} at once)`);
      for (const s of h.switches) lines.push(`    ${p(s.name)}  ${s.path === 'pvh-now' ? 'pvh' : 'pvh-shim'}${s.pv32 ? '  32-bit PV' : ''}`);
    }
  }
  if (plan.held.length > 0) {
    lines.push('', 'held back');
    const byHost = (a: HeldGuest, b: HeldGuest) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0);
    for (const h of [...plan.held].sort(byHost)) lines.push(`  ${p(h.host)}/${p(h.name)}  ${p(operatorPathWords(h.path))}`);
  }
  return lines.join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values } = parse(rest, {
    ...COMMON,
    host: { type: 'string', multiple: true },
    canary: { type: 'string' },
    'per-host': { type: 'string' },
    'pv32-first': { type: 'string' },
  });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub !== 'plan') throw new UsageError(`unknown subcommand '${sub}'`);
  const policy: CampaignPolicy = {
    canary: count('--canary', values.canary, 0, 5)!,
    perHost: count('--per-host', values['per-host'], 1, null),
    pv32First: pv32First(values['pv32-first']),
  };
  const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
  try {
    const { hosts, guests } = await readPlanInput(fleet.store, values.host ?? []);
    const plan = planCampaign(hosts, guests, policy);
    output(values.json, asJson(policy, plan), () => human(plan));
    return 0;
  } finally {
    await fleet.close();
  }
}
