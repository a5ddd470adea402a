/**
 * `pvhctl campaign`: `plan` prints the migration campaign's plan (src/fleet/planner.ts) over the
 * store's hosts and guests, changing nothing; `create|list|show|start|pause|resume|cancel` manage
 * campaigns as stored objects (src/fleet/campaign.ts); `run` runs their tick in a loop.
 */
import { planCampaign, type CampaignPlan, type CampaignPolicy, type HeldGuest, type Pv32First } from '../fleet/planner.ts';
import {
  CampaignError,
  cancelCampaign,
  createCampaign,
  listCampaigns,
  pauseCampaign,
  resumeCampaign,
  showCampaign,
  startCampaign,
  tickAll,
  type CampaignDetail,
  type CampaignView,
} from '../fleet/campaign.ts';
import { realClock, type CampaignSettings } from '../fleet/campaign-rules.ts';
import { noticeKey, type Notifier } from '../fleet/notice.ts';
import type { Store } from '../store/store.ts';
import { notifierFromSettings } from '../notify/settings.ts';
import { loadSettings } from '../settings/load.ts';
import { campaignDefaults } from '../settings/campaign.ts';
import type { Settings } from '../settings/resolve.ts';
import { readPlanInput } from '../fleet/plan-input.ts';
import { customerPathWords, operatorPathWords } from '../fleet/plan-words.ts';
import { printable } from '../util/escape.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, needOne, open, output } from './fleet-common.ts';

export const help = `usage: pvhctl campaign plan [--host HOST]... [--canary N] [--per-host N]
                            [--pv32-first all|none|HOST,HOST...] [--pv-only shim|hold] [--json]
       pvhctl campaign create NAME --window HOST='Tue-Thu 02:00-05:00 Europe/Berlin'...
                            [--host HOST]... [--guest NAME]... [--owner OWNER]... [--canary N]
                            [--per-host N] [--pv32-first ...] [--notice-days N] [--postpone-days N]
                            [--switch-minutes N] [--canary-threshold PCT] [--wave-threshold PCT]
                            [--days N] [--pv-only shim|hold]
       pvhctl campaign list|show NAME [--json]
       pvhctl campaign start|resume|cancel NAME
       pvhctl campaign pause NAME [--reason TEXT]
       pvhctl campaign run [--every SECONDS] [--once]

Plans a PV to PVH campaign over the guests pvhctl knows (the last scan's verdicts, the switches
that rolled back, the newest rehearsals) and prints it, changing nothing. Each guest gets a path:
pvh now, the PV shim, after its customer reboots into an installed PVH kernel, after a kernel
upgrade, blocked (with why), or done. The switchable ones go in waves: a canary wave of N guests
first (--canary, default campaign.canary in the settings, 5; 0 for none), then waves in which each host switches at most its
--max-parallel guests, or --per-host N when lower. --pv32-first moves the 32-bit PV guests
(xen-3.0-x86_32p) of the hosts named (or of all) into waves ahead of their others, for hosts whose
next Xen is built without 32-bit PV. Guests whose kernel runs only as PV go to the PV shim, or
with --pv-only hold stay in PV for a fleet that does not run the shim. Everyone else is held back
with the reason.

create stores the plan as a draft campaign over the hosts, guests and owners named (all when none),
with each host's maintenance window (days, a time range, and an IANA time zone; the host's, UTC by
default, when left out). start gives each planned guest a slot, an occurrence of its host's window,
the waves one after another from --notice-days (default 7) on. Every default named here is
the settings file's (campaign.canary, campaign.notice_days and so on; pvhctl.conf(5)); a campaign
keeps the values it was created with. run (also part of 'pvhctl serve' and
'pvhctl worker') ticks every running campaign: it sends each customer's notice --notice-days before
the slot, a reminder the day before and the result after; it starts the current wave's switches
only inside their slot, and only when --switch-minutes (default 15) still fits before it closes
(otherwise the guest moves to its window's next occurrence); it pauses the campaign, with the
reason, when a wave's failures pass its threshold (--canary-threshold, default 0: any failure;
--wave-threshold, default 10). pause, resume and cancel do what they say; resume accepts the
failures that paused it. Customers choose through the API and the Xen Shell: switch now, another
slot up to --days (default 56) from the start, or postpone once by up to --postpone-days (14).

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

/** A percentage option as a share. */
function percent(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,3}$/.test(value) || Number(value) > 100) throw new UsageError(`${name} takes a percentage from 0 to 100, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value) / 100;
}

/** --window HOST=SPEC options as a map; the specs are parsed when the campaign is made. */
function windowsOf(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`--window takes HOST=SPEC (xen1='Tue-Thu 02:00-05:00 Europe/Berlin'), got ${JSON.stringify(v.slice(0, 80))}`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/**
 * The Notifier a campaign tick sends through (`campaign run`, `serve`, `worker`): the SMTP one
 * (src/notify/) when the settings turn mail on. With mail off (no smtp.host), a due mail is
 * recorded in the audit log instead (action `campaign-mail`, the owner and slot) and counted as
 * handed on, so that a single dom0 without customers to tell can still run a campaign and an
 * operator sees what would have gone out. Settings that ask for mail but are wrong stop the
 * command with one line rather than run a campaign whose customers are never told.
 * @example
 * notifierFor(store, loadSettings({})) // => { notifier, mail: 'off (no smtp.host): ...' }
 */
export function notifierFor(store: Store, settings: Settings): { notifier: Notifier; mail: string } {
  const setup = notifierFromSettings(store, settings);
  if (setup.kind === 'on') return { notifier: setup.notifier, mail: 'on (SMTP)' };
  if (setup.kind === 'invalid') throw new UsageError(`campaign mail: ${setup.error}`);
  return {
    mail: 'off (no smtp.host): due notices are recorded in the audit log only',
    notifier: {
      async send(n) {
        await store.audit('pvhctl', 'campaign-mail', n.guestName, `${n.campaignName}: ${n.kind} to ${n.owner} for ${n.slot === null ? 'no slot (host without a window)' : n.slot.start.toISOString()}${n.outcome ? ` (${n.outcome.kind})` : ''}`);
        return { status: 'sent', messageId: `audit:${n.campaignId}/${n.guestId}/${n.kind}/${noticeKey(n)}` };
      },
    },
  };
}

const p = printable;
const when = (iso: string | null) => (iso === null ? '-' : iso.replace(/:00\.000Z$/, 'Z'));

function humanList(cs: CampaignView[]): string {
  if (cs.length === 0) return 'no campaigns\n';
  return cs.map((c) => `${p(c.name)}  ${c.status}${c.pause_reason ? `  (${p(c.pause_reason)})` : ''}\n`).join('');
}

function humanShow(d: CampaignDetail): string {
  const c = d.campaign;
  const lines = [`campaign ${p(c.name)}: ${c.status}${c.started_at ? ` since ${when(c.started_at)}` : ''}${c.ends_at ? `, slots until ${when(c.ends_at)}` : ''}`];
  if (c.pause_reason) lines.push(`paused: ${p(c.pause_reason)}`);
  for (const [h, w] of Object.entries(c.windows)) lines.push(`window ${p(h)}: ${p(w)}`);
  lines.push(Object.entries(d.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', '), '');
  for (const g of d.guests) {
    const where = g.wave === null ? 'held' : `wave ${g.wave}${g.wave_kind === 'canary' ? ' (canary)' : ''}`;
    const slot = g.slot_start ? `  ${when(g.slot_start)}..${when(g.slot_end)}` : '';
    const choice = g.choice ? `  customer: ${g.choice}` : '';
    const why = g.status === 'held' ? `  ${p(operatorPathWords(JSON.parse(g.path)))}` : g.outcome_reason ? `  ${p(g.outcome_reason)}` : '';
    lines.push(`  ${p(g.host_name)}/${p(g.guest_name)}  ${where}  ${g.status}${slot}${choice}${why}`);
  }
  return lines.join('\n') + '\n';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values, positionals } = parse(rest, {
    ...COMMON,
    host: { type: 'string', multiple: true },
    guest: { type: 'string', multiple: true },
    owner: { type: 'string', multiple: true },
    window: { type: 'string', multiple: true },
    canary: { type: 'string' },
    'per-host': { type: 'string' },
    'pv32-first': { type: 'string' },
    'pv-only': { type: 'string' },
    'notice-days': { type: 'string' },
    'postpone-days': { type: 'string' },
    'switch-minutes': { type: 'string' },
    'canary-threshold': { type: 'string' },
    'wave-threshold': { type: 'string' },
    days: { type: 'string' },
    reason: { type: 'string' },
    every: { type: 'string' },
    once: { type: 'boolean' },
  });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub !== 'plan') return manage(sub, values, positionals);
  const policy: CampaignPolicy = {
    canary: count('--canary', values.canary, 0, null) ?? campaignDefaults(loadSettings()).canary,
    perHost: count('--per-host', values['per-host'], 1, null),
    pv32First: pv32First(values['pv32-first']),
    pvOnly: pvOnly(values['pv-only']) ?? 'use-shim',
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

/** --pv-only's value: what becomes of PV-only kernels (undefined when not given). */
function pvOnly(value: string | undefined): CampaignPolicy['pvOnly'] {
  if (value === undefined) return undefined;
  if (value === 'shim') return 'use-shim';
  if (value === 'hold') return 'hold';
  throw new UsageError('--pv-only takes shim or hold');
}

type Values = Record<string, string | string[] | boolean | undefined>;

/** The campaign verbs other than plan. */
async function manage(sub: string, values: Values, positionals: string[]): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => values[k] as string[] | undefined;
  const actor = `operator:${process.env.USER ?? 'unknown'}`;
  const verbs = ['create', 'list', 'show', 'start', 'pause', 'resume', 'cancel', 'run'];
  if (!verbs.includes(sub)) throw new UsageError(`unknown subcommand '${sub}'`);
  if (sub !== 'list' && sub !== 'run') needOne(positionals, 'campaign name');
  const name = positionals[0] ?? '';
  const settings: Partial<CampaignSettings> = {};
  // The settings file's campaign section, read before the store is opened: a broken file stops here.
  const defaults = sub === 'create' ? campaignDefaults(loadSettings()) : undefined;
  if (sub === 'create') {
    const set = <K extends keyof CampaignSettings>(k: K, v: CampaignSettings[K] | null | undefined) => {
      if (v !== undefined && v !== null) settings[k] = v;
    };
    set('canary', count('--canary', str('canary'), 0, null));
    set('perHost', count('--per-host', str('per-host'), 1, null));
    if (str('pv32-first') !== undefined) settings.pv32First = pv32First(str('pv32-first'));
    set('pvOnly', pvOnly(str('pv-only')));
    set('noticeDays', count('--notice-days', str('notice-days'), 0, null));
    set('postponeDays', count('--postpone-days', str('postpone-days'), 0, null));
    const minutes = count('--switch-minutes', str('switch-minutes'), 1, null);
    if (minutes !== null) settings.switchEstimateMs = minutes * 60_000;
    set('canaryThreshold', percent('--canary-threshold', str('canary-threshold')));
    set('waveThreshold', percent('--wave-threshold', str('wave-threshold')));
    set('lengthDays', count('--days', str('days'), 1, null));
  }
  const every = count('--every', str('every'), 1, 30)!;
  const fleet = await open(values['data-dir'] as string | undefined, { recover: sub === 'run' }, 'needs-store');
  const json = values.json as boolean | undefined;
  try {
    switch (sub) {
      case 'create': {
        const c = await createCampaign(fleet.store, { name, scope: { hosts: list('host') ?? [], guests: list('guest') ?? [], owners: list('owner') ?? [] }, windows: windowsOf(list('window')), settings, actor, defaults });
        output(json, await showCampaign(fleet.store, c.name), humanShow);
        return 0;
      }
      case 'list':
        output(json, await listCampaigns(fleet.store), humanList);
        return 0;
      case 'show':
        output(json, await showCampaign(fleet.store, name), humanShow);
        return 0;
      case 'start':
        await startCampaign(fleet.store, name, actor, realClock);
        output(json, await showCampaign(fleet.store, name), humanShow);
        return 0;
      case 'pause':
        output(json, await pauseCampaign(fleet.store, name, actor, str('reason') ?? 'no reason given'), (c) => humanList([c]));
        return 0;
      case 'resume':
        output(json, await resumeCampaign(fleet.store, name, actor), (c) => humanList([c]));
        return 0;
      case 'cancel':
        output(json, await cancelCampaign(fleet.store, name, actor), (c) => humanList([c]));
        return 0;
      default: {
        // run: tick every campaign every --every seconds until SIGTERM/SIGINT, then let the switches in flight finish.
        let stopping = false;
        const stop = () => {
          stopping = true;
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        const log = (line: string) => process.stderr.write(`${line}\n`);
        const { notifier, mail } = notifierFor(fleet.store, loadSettings({}));
        if (!values.once) log(`campaign mail: ${mail}`);
        while (!stopping) {
          for (const r of await tickAll(fleet.ctx, { clock: realClock, notifier, log })) {
            if (r.kind !== 'ran') continue;
            if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
            else for (const g of r.submitted) process.stdout.write(`${p(r.campaign)}: started ${p(g)}\n`);
          }
          if (values.once) break;
          for (let waited = 0; waited < every * 1000 && !stopping; waited += 200) await sleep(200);
        }
        await fleet.ctx.leases.idle();
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof CampaignError) throw new Error(err.message);
    throw err;
  } finally {
    await fleet.close();
  }
}
