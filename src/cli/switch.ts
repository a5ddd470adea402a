/**
 * `pvhctl switch GUEST --to pvh|pvh-shim|pv` and `pvhctl rollback GUEST`: run the journaled switch
 * (or undo the last one) and report how it ended.
 */
import { precheck, startRollback, startSwitch, startSwitches, type OperationEvent } from '../fleet/switch.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { isSwitchTarget, SWITCH_TARGETS, type SwitchTarget } from '../fleet/types.ts';
import { operatorRefusalWords, outcomeView, outcomeWords, refusalParams } from '../fleet/reasons.ts';
import type { Operation } from '../store/schema.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, findGuest, finishOnSignal, needOne, open, output } from './fleet-common.ts';
import { POD_HELP, POD_OPTIONS, podChoice } from './pod.ts';
import { flag, loadSettings } from '../settings/load.ts';
import { numberOf } from '../settings/resolve.ts';

export const help = `usage: pvhctl switch GUEST --to pvh|pvh-shim|pv [--force] [--dry-run] [--json]
                      [--shutdown-timeout S] [--boot-timeout S] [--probe ADDRESS:PORT]
                      [--maxmem-equals-memory | --accept-pod]
       pvhctl switch --all [--host HOST] --to pvh|pvh-shim|pv [--force] [--json]
       pvhctl rollback GUEST [--dry-run] [--json]

switch: pre-check (inspection verdict, host policy) → keep the current config as a version →
graceful shutdown (destroy only with --force) → write the new config atomically → create →
verify (type per xl list -l, vbd/vif frontends Connected, no panic on the console, the optional
TCP probe). Any failure rolls back to the kept config, byte-identical. --dry-run prints the plan
and the config diff and changes nothing. --force also destroys a guest that does not shut down in
time, and switches even when inspection says its kernel cannot (the verified boot and the
automatic rollback still guard it); it never overrides the host's policy. A PV guest with memory < maxmem is refused for PVH
(it would become populate-on-demand) unless the operator chooses:
${POD_HELP}--all: every guest (of HOST with --host) not already of that type, asked for in one request
(a transaction per 1,000 guests), each then switched as above under its host's limit; a guest
with a change in progress is refused as busy; prints a line per guest that did not switch and a
count per outcome; the exit status is the worst of them.
rollback: puts the guest back to the config it had before its last switch.

exit status: 0 switched (or the dry run found the switch allowed); 1 refused or failed (reason
on stderr); 2 usage error; 3 rolled back (the guest runs as before); 4 needs attention (the
guest could not be verified in either type)
`;

/** Exit codes by final status (documented in docs/cli.md). */
export const EXIT: Record<Operation['status'], number> = { done: 0, refused: 1, pending: 1, running: 1, 'rolled-back': 3, 'needs-attention': 4 };

function progress(json: boolean | undefined) {
  return (e: OperationEvent) => {
    if (!json && e.status === undefined) process.stderr.write(`  ${e.step.padEnd(17)} ${e.phase}${e.message ? `  ${printable(e.message).slice(0, 160)}` : ''}\n`);
  };
}

export async function run(args: string[], mode: 'switch' | 'rollback' = 'switch'): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON,
    to: { type: 'string' },
    force: { type: 'boolean' },
    ...POD_OPTIONS,
    'dry-run': { type: 'boolean' },
    'shutdown-timeout': { type: 'string' },
    'boot-timeout': { type: 'string' },
    probe: { type: 'string' },
    all: { type: 'boolean' },
    host: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const all = mode === 'switch' && values.all === true;
  if (all && (positionals.length > 0 || values['dry-run'] || values.probe !== undefined)) throw new UsageError('--all takes no GUEST, --dry-run or --probe');
  if (!all && values.host !== undefined) throw new UsageError('--host goes with --all');
  const spec = all ? '' : needOne(positionals, 'guest');
  const to = values.to as SwitchTarget | undefined;
  if (mode === 'switch' && (to === undefined || !isSwitchTarget(to))) throw new UsageError(`--to ${SWITCH_TARGETS.join('|')}`);
  // Flags over the settings (environment, /etc/pvhctl/pvhctl.conf, defaults), checked there.
  const timeouts = loadSettings({ 'verify.boot_timeout': flag('--boot-timeout', values['boot-timeout']), 'verify.shutdown_timeout': flag('--shutdown-timeout', values['shutdown-timeout']) });
  let tcpProbe;
  if (values.probe !== undefined) {
    const m = /^([0-9.]{7,15}|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(values.probe);
    if (!m) throw new UsageError('--probe ADDRESS:PORT');
    tcpProbe = { address: m[1]!, port: Number(m[2]), timeoutMs: 3000 };
  }
  const fleet = await open(values['data-dir'], {
    verify: { bootTimeoutMs: numberOf(timeouts, 'verify.boot_timeout') * 1000, pollMs: 1000, ...(tcpProbe ? { tcpProbe } : {}) },
    shutdownTimeoutMs: numberOf(timeouts, 'verify.shutdown_timeout') * 1000,
    ...(all ? {} : { onEvent: progress(values.json) }),
  }, 'needs-store');
  try {
    if (all) return await switchAll(fleet, to!, { host: values.host, force: values.force === true, json: values.json });
    const guest = await findGuest(fleet, spec);
    if (values['dry-run']) {
      if (mode === 'rollback') {
        const last = (await fleet.store.listOperations({ guestId: guest.id })).find((o) => o.kind === 'switch' && o.kept_version_id !== null);
        const plan = last ? { guest: guest.name, restore: last.kept_version_id, to: last.from_type, steps: ['rollback-stop', 'rollback-restore', 'rollback-create', 'rollback-verify'] } : null;
        output(values.json, plan, (p) => (p ? `would restore config version #${p.restore} and boot ${printable(p.guest)} as ${p.to}\n  steps: ${p.steps.join(' → ')}\n` : 'nothing to roll back\n'));
        return plan ? 0 : 1;
      }
      const pre = await precheck(fleet.ctx, guest, to!, { force: values.force === true, pod: podChoice(values) });
      const plan = pre.ok
        ? { allowed: true as const, guest: guest.name, from: pre.from, to: pre.to, changes: pre.changes, diff: pre.diff, steps: ['pre-check', 'keep-config', 'shutdown', 'write-config', 'create', 'verify'] }
        : { allowed: false as const, guest: guest.name, rule: pre.refusal.code, params: refusalParams(pre.refusal), reason: operatorRefusalWords(pre.refusal) };
      output(values.json, plan, (p) =>
        p.allowed
          ? `${printable(p.guest)}: ${p.from} → ${p.to}\n  steps: ${p.steps.join(' → ')}\n  changes: ${p.changes.map(printable).join('; ')}\n${p.diff}`
          : `${printable(p.guest)}: refused: ${printable(p.reason)}\n`,
      );
      return plan.allowed ? 0 : 1;
    }
    const req = mode === 'switch' ? await startSwitch(fleet.ctx, guest, to!, { force: values.force === true, actor: 'cli', pod: podChoice(values) }) : await startRollback(fleet.ctx, guest, 'cli');
    if (req.kind === 'refused') {
      const reason = operatorRefusalWords(req.refusal);
      process.stderr.write(`pvhctl ${mode}: ${printable(guest.name)}: ${printable(reason)}\n`);
      if (values.json) output(true, { guest: guest.name, status: 'refused', rule: req.refusal.code, params: refusalParams(req.refusal), reason }, () => '');
      return 1;
    }
    if (!values.json) process.stderr.write(`operation ${req.operation.id}: ${mode} ${printable(guest.name)}\n`);
    const unhook = finishOnSignal(fleet, mode);
    const op = await req.finished.finally(unhook);
    // An operator's command: the outcome in operator words (which check failed, what the rollback did).
    output(values.json, { ...op, ...outcomeView(op, 'operator'), guest: guest.name }, (o) => `${printable(o.guest)}: ${o.status}: ${printable(o.reason ?? '')}\n`);
    if (op.status !== 'done' && !(mode === 'rollback' && op.status === 'rolled-back')) {
      // The customer's words, then the operator's: the code, which check failed, what the rollback did.
      process.stderr.write(`pvhctl ${mode}: ${printable(guest.name)}: ${op.status}: ${printable(op.reason ?? '')} (${printable(op.reason_code === null ? (op.detail ?? '') : outcomeWords(op, 'operator'))})\n`);
    }
    return mode === 'rollback' && op.status === 'rolled-back' ? 0 : EXIT[op.status];
  } finally {
    await fleet.close();
  }
}

/** How often `switch --all` asks the store whether the workers have finished. */
const ALL_POLL_MS = 1000;

/**
 * `switch --all`: asks for every guest's switch in one request (startSwitches), waits for them
 * all, prints each guest that did not switch and a count per outcome. Returns the worst exit status.
 */
async function switchAll(fleet: Fleet, to: SwitchTarget, opts: { host: string | undefined; force: boolean; json: boolean | undefined }): Promise<number> {
  let hostId: number | undefined;
  if (opts.host !== undefined) {
    const host = await fleet.store.getHost(opts.host);
    if (host === undefined) throw new Error(`no host named ${JSON.stringify(opts.host)}`);
    hostId = host.id;
  }
  const guests = (await fleet.store.listGuests(hostId === undefined ? {} : { hostId })).filter((g) => g.current_type !== to);
  const batch = await startSwitches(fleet.ctx, guests.map((guest) => ({ guest, to })), { force: opts.force, actor: 'cli' });
  if (!opts.json) process.stderr.write(`${batch.started.length} switches to ${to} asked for${batch.busy.length > 0 ? `, ${batch.busy.length} guests busy` : ''}\n`);
  const unhook = finishOnSignal(fleet, 'switch');
  let ops: Operation[];
  try {
    // Run here (embedded store): each one's end. Queued: the workers run them; the store says when they end.
    const here = await Promise.all(batch.started.flatMap((s) => (s.run.where === 'here' ? [s.run.finished] : [])));
    const queued = new Set(batch.started.filter((s) => s.run.where === 'queued').map((s) => s.operation.id));
    while (queued.size > 0 && (await fleet.store.unfinishedOperations()).some((o) => queued.has(o.id))) await new Promise((r) => setTimeout(r, ALL_POLL_MS));
    ops = [...here, ...(await fleet.store.operationsByIds([...queued]))];
  } finally {
    unhook();
  }
  const nameOf = new Map(batch.started.map((s) => [s.operation.id, s.guest.name]));
  const results = [
    ...ops.map((o) => ({ guest: nameOf.get(o.id)!, operation: o.id as number | null, status: o.status as Operation['status'] | 'busy', reason: o.reason })),
    ...batch.busy.map((g) => ({ guest: g.name, operation: null, status: 'busy' as const, reason: operatorRefusalWords({ code: 'busy' }) })),
  ];
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  output(opts.json, { to, counts: Object.fromEntries(counts), results }, (v) =>
    [
      ...v.results.filter((r) => r.status !== 'done').map((r) => `${printable(r.guest)}: ${r.status}: ${printable(r.reason ?? '')}\n`),
      `${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing to switch'}\n`,
    ].join(''),
  );
  return Math.max(0, ...results.map((r) => (r.status === 'busy' ? 1 : EXIT[r.status])));
}
