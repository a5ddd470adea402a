/**
 * `pvhctl switch GUEST --to pvh|pvh-shim|pv` and `pvhctl rollback GUEST`: run the journaled switch
 * (or undo the last one) and report how it ended.
 */
import { precheck, startRollback, startSwitch, type OperationEvent } from '../fleet/switch.ts';
import { isSwitchTarget, SWITCH_TARGETS, type SwitchTarget } from '../fleet/types.ts';
import { operatorRefusalWords, refusalParams } from '../fleet/reasons.ts';
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
       pvhctl rollback GUEST [--dry-run] [--json]

switch: pre-check (inspection verdict, host policy) → keep the current config as a version →
graceful shutdown (destroy only with --force) → write the new config atomically → create →
verify (type per xl list -l, vbd/vif frontends Connected, no panic on the console, the optional
TCP probe). Any failure rolls back to the kept config, byte-identical. --dry-run prints the plan
and the config diff and changes nothing. --force also destroys a guest that does not shut down in
time, and switches even when inspection says its kernel cannot (the verified boot and the
automatic rollback still guard it); it never overrides the host's policy. A PV guest with memory < maxmem is refused for PVH
(it would become populate-on-demand) unless the operator chooses:
${POD_HELP}rollback: puts the guest back to the config it had before its last switch.

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
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const spec = needOne(positionals, 'guest');
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
    onEvent: progress(values.json),
  }, 'needs-store');
  try {
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
    output(values.json, { ...op, guest: guest.name }, (o) => `${printable(o.guest)}: ${o.status}: ${o.reason ?? ''}\n`);
    if (op.status !== 'done' && !(mode === 'rollback' && op.status === 'rolled-back')) {
      process.stderr.write(`pvhctl ${mode}: ${printable(guest.name)}: ${op.status}: ${printable(op.reason ?? '')} (${printable(op.detail ?? '')})\n`);
    }
    return mode === 'rollback' && op.status === 'rolled-back' ? 0 : EXIT[op.status];
  } finally {
    await fleet.close();
  }
}
