/**
 * Rehearsal: boot a guest's own disks as PVH in a throwaway domain, on copy-on-write snapshots,
 * while the guest keeps running, and verify the boot exactly as the switch does. Every step is
 * journaled before it acts (what it is about to make is in the journal entry), so that a crash
 * leaves nothing behind: recovery destroys the rehearsal domain and removes the snapshots and the
 * config file. Nothing here ever names the guest's own domain, config file or disks as a target.
 */
import { hostname } from 'node:os';
import { DriverError, domainName, failureOf, hostPath, type DomainName, type HostDriver, type HostPath, type SnapshotSpec } from '../drivers/driver.ts';
import type { Guest, Host } from '../store/schema.ts';
import { OWNER } from '../store/store.ts';
import { rehearsals, type HostSlots, type Rehearsal, type RehearsalStatus } from '../store/rehearsals.ts';
import { parseXlConfig } from '../xlcfg/parser.ts';
import { rehearsalConfig } from '../xlcfg/rehearse.ts';
import { customerReason } from './messages.ts';
import { customerRefusalWords, operatorRefusalWords } from './reasons.ts';
import {
  customerMessage, DEFAULT_REHEARSAL, hostRoom, planSnapshots, rehearsalConfigPath, rehearsalName, strayOf, userlandSign,
  type CannotRule, type HostLoad, type RehearsalOptions, type RehearsalRule, type RehearsalStep,
} from './rehearse-plan.ts';
import { decodeVerdict } from './stored-verdict.ts';
import type { RehearsalTarget } from './types.ts';
import { ownerAlive, ownerLive, precheck, retry, type FleetContext } from './switch.ts';
import { kernelSilent, SILENT_PVH_CONSOLE, sinceBoot, verifyBoot } from './verify.ts';

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));
/** The console's last lines worth keeping: bounded, blank lines dropped. */
const lastLines = (text: string, n = 20) => text.split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n').slice(-4000);

/** The result of asking for a rehearsal. */
export type RehearsalRequest =
  | { kind: 'refused'; rule: 'busy' | 'name-taken'; reason: string }
  | { kind: 'started'; rehearsal: Rehearsal; finished: Promise<Rehearsal> };

/** The kernel a rehearsal is recorded against: the inspected kernel version, else the config's kernel. */
function kernelOf(guest: Guest, kernelPath: string | null): string {
  const v = decodeVerdict(guest.verdict);
  return (v?.kernelVersion ?? kernelPath ?? 'unknown').slice(0, 200);
}

/**
 * Starts a rehearsal of `guest`; refuses while another rehearsal or a switch of the guest runs.
 * This process's rehearsals and switches of a host wait their turn in its limiter; the store's
 * slot check (at the memory check) is the authority across processes and machines.
 * @example
 * const r = await startRehearsal(fleet.ctx, guest, { actor: 'op' });
 * (await r.finished).status // => 'passed'
 */
export async function startRehearsal(
  ctx: FleetContext,
  guest: Guest,
  o: { actor: string; to?: RehearsalTarget; options?: Partial<RehearsalOptions>; onStep?: RehearsalProgress },
): Promise<RehearsalRequest> {
  const R = rehearsals(ctx.store);
  if ((await R.ofGuest(guest.id, 50)).some((r) => r.status === 'running')) return { kind: 'refused', rule: 'busy', reason: 'A test boot of this server is already running.' };
  if ((await ctx.store.listOperations({ guestId: guest.id, status: ['pending', 'running'] })).length > 0) {
    return { kind: 'refused', rule: 'busy', reason: 'Another change to this server is in progress.' };
  }
  const r = await R.create({ guest_id: guest.id, kernel: kernelOf(guest, null), to_type: o.to ?? 'pvh', owner: OWNER, requested_by: o.actor });
  await ctx.store.audit(o.actor, 'rehearse', guest.name, `to ${r.to_type}`);
  const host = await ctx.store.getHostById(guest.host_id);
  const finished = ctx.limiter.run(guest.host_id, host?.max_parallel ?? 1, () => runRehearsal(ctx, r.id, { ...DEFAULT_REHEARSAL, ...ctx.rehearsal, ...o.options }, o.onStep));
  return { kind: 'started', rehearsal: r, finished };
}

type Outcome = { status: Exclude<RehearsalStatus, 'running'>; step: RehearsalStep | 'interrupted'; rule: RehearsalRule | null; reason: string | null; detail: string | null; console: string | null };

/** Progress of a rehearsal, step by step (rehearsals are not operations: their ids are their own). */
export type RehearsalProgress = (e: { rehearsalId: number; guest: string; step: RehearsalStep; phase: 'begin' | 'done' | 'failed'; detail: string | null }) => void;

/** Runs a rehearsal from its first step to its record; always cleans up what it made. */
export async function runRehearsal(ctx: FleetContext, id: number, opts: RehearsalOptions = DEFAULT_REHEARSAL, onStep?: RehearsalProgress): Promise<Rehearsal> {
  const R = rehearsals(ctx.store);
  const r = (await R.get(id))!;
  const guest = (await ctx.store.getGuestById(r.guest_id))!;
  const host = (await ctx.store.getHostById(guest.host_id))!;
  const driver = ctx.driverFor(host);
  const journal = async (step: RehearsalStep, phase: 'begin' | 'done' | 'failed', detail: string | null = null) => {
    const e = await R.journal(id, step, phase, detail);
    onStep?.({ rehearsalId: id, guest: guest.name, step, phase, detail });
    await ctx.afterJournal?.(id, e.seq, step, phase);
  };
  const record = async (out: Outcome) => {
    await R.update(id, { status: out.status, step: out.step, rule: out.rule, reason: out.reason, detail: out.detail, console_tail: out.console });
    await ctx.store.audit('pvhctl', `rehearsal-${out.status}`, guest.name, out.detail);
    return (await R.get(id))!;
  };
  const cannot = async (rule: CannotRule | 'host', reason: string, detail: string | null = null) => {
    await journal('plan', 'failed', rule);
    return record({ status: 'cannot-rehearse', step: 'plan', rule, reason, detail, console: null });
  };

  await journal('plan', 'begin');
  const planned = await plan(ctx, id, guest, host, driver, r.to_type as RehearsalTarget, opts).catch((err: unknown) => ({ ok: false as const, rule: 'host' as const, reason: customerReason(err), detail: errText(err) }));
  if (!planned.ok) return cannot(planned.rule, planned.reason, 'detail' in planned ? planned.detail : null);
  // From here the rehearsal holds a slot and its memory in the store until record() finishes it.
  await R.update(id, { kernel: kernelOf(guest, planned.kernel) });
  await journal('plan', 'done', `${planned.snapshots.length} snapshot(s), ${planned.memoryMb} MiB`);
  const out = await boot(ctx, driver, journal, planned, r.to_type as RehearsalTarget);
  const clean = await cleanup(driver, journal, planned);
  if (clean !== null) return record({ ...out, status: 'failed', rule: 'cleanup', reason: 'the test copy of the server could not be removed', detail: `${out.detail ?? ''}; cleanup: ${clean}` });
  return record(out);
}

/**
 * The host's load as hostRoom judges it, from the store's rows: a rehearsal whose process died
 * (on this machine, or silent past STALE_MS on another) holds nothing, nor does an operation
 * whose owner's lease ran out (a worker's sweep takes it over); `created` are the rehearsals whose
 * domain xl's free_memory already counted when it was read.
 */
function loadOf(host: Host, s: HostSlots, created: Set<number>): HostLoad {
  const now = Date.now();
  return {
    host: host.name,
    maxParallel: s.maxParallel,
    rehearsals: s.rehearsals.filter(ownerLive).map((r) => ({ memoryMb: r.memory_mb, inFreeMemory: created.has(r.id) })),
    operations: s.operations.filter((o) => (o.lease_until === null ? ownerLive(o) : Date.parse(o.lease_until) > now)).length,
  };
}

type Plan = { ok: true; name: DomainName; configPath: HostPath; text: string; snapshots: SnapshotSpec[]; memoryMb: number; kernel: string | null };

/** Decides everything before anything is made: the switch's pre-check, names, copies, memory. */
async function plan(ctx: FleetContext, id: number, guest: Guest, host: Host, driver: HostDriver, to: RehearsalTarget, opts: RehearsalOptions): Promise<Plan | { ok: false; rule: CannotRule; reason: string; detail?: string }> {
  // The same pre-check and config as the real switch: policy, verdict, the rewrite; reads only.
  const pre = await precheck(ctx, guest, to, { force: opts.force });
  if (!pre.ok) return { ok: false, rule: 'refused', reason: customerRefusalWords(pre.refusal), detail: operatorRefusalWords(pre.refusal) };
  const name = rehearsalName(guest.name);
  if (guest.name.startsWith('pvhctl-rehearse-')) return { ok: false, rule: 'name-taken', reason: `the server's own name starts with pvhctl-rehearse-, which pvhctl keeps for test boots` };
  const domains = await retry(() => driver.listDomains());
  if (domains.some((d) => d.name === name)) return { ok: false, rule: 'name-taken', reason: `a domain named ${name} already exists on the host` };
  // A guest that carries the name while shut down could start under it between this check and the
  // destroy at the end (or a recovery after a crash), which would then destroy that guest.
  if ((await ctx.store.getGuest(name, host.id)).length > 0) return { ok: false, rule: 'name-taken', reason: `a guest of this host is named ${name}, the name its test boot needs` };
  const facts = ctx.readFacts(pre.next, guest.config_path);
  if (!facts.ok) return { ok: false, rule: 'config', reason: facts.error };
  const disks = [];
  for (const d of facts.facts.disks) disks.push({ backing: await retry(() => driver.diskBacking(hostPath(d.path))), vdev: d.vdev });
  const dm = disks.some((d) => d.backing.kind === 'lv') ? await retry(() => driver.dmTargets()) : [];
  const snaps = planSnapshots(guest.name, disks, dm, opts);
  if (!snaps.ok) return snaps;
  const parsed = parseXlConfig(Buffer.from(pre.next).toString('latin1'), guest.config_path);
  if (!parsed.ok) return { ok: false, rule: 'config', reason: 'the PVH config does not parse' };
  const cfg = rehearsalConfig(parsed.config, name, new Map(snaps.snapshots.map((s) => [s.origin as string, s.path as string])));
  if (!cfg.ok) return { ok: false, rule: 'config', reason: cfg.reason };
  // Which rehearsals' domains exist before free_memory is read: their memory is in the reading;
  // any other's may not be (its xl create may finish after the reading), so the check subtracts it.
  const R = rehearsals(ctx.store);
  const created = await R.created(host.id);
  const free = await retry(() => driver.freeMemory());
  const room = await R.claimSlot(id, host.id, cfg.memoryMb, (s) => hostRoom(cfg.memoryMb, free, opts.reserveMb, loadOf(host, s, created)));
  if (!room.ok) return room;
  return { ok: true, name, configPath: rehearsalConfigPath(host.config_dir, guest.name), text: cfg.text, snapshots: snaps.snapshots, memoryMb: cfg.memoryMb, kernel: facts.facts.kernel };
}

type Journal = (step: RehearsalStep, phase: 'begin' | 'done' | 'failed', detail?: string | null) => Promise<void>;

/** Snapshots, config, create, verify: the outcome, whatever happens (cleanup comes after). */
async function boot(ctx: FleetContext, driver: HostDriver, journal: Journal, p: Plan, to: RehearsalTarget): Promise<Outcome> {
  let step: RehearsalStep = 'snapshot';
  try {
    for (const s of p.snapshots) {
      // The journal names the snapshot before it exists: recovery removes it either way.
      await journal('snapshot', 'begin', JSON.stringify(s));
      try {
        await retry(() => driver.snapshotDisk(s));
      } catch (err) {
        const c = snapshotCannot(err, s);
        if (c !== null) {
          await journal('snapshot', 'failed', c.rule);
          return { status: 'cannot-rehearse', step: 'snapshot', rule: c.rule, reason: c.reason, detail: errText(err), console: null };
        }
        throw err;
      }
      await journal('snapshot', 'done');
    }
    step = 'write-config';
    await journal('write-config', 'begin', p.configPath);
    await retry(() => driver.writeConfig(p.configPath, new TextEncoder().encode(p.text)));
    await journal('write-config', 'done');
    step = 'create';
    await journal('create', 'begin', p.name);
    await retry(() => driver.clearConsoleLog(p.name));
    const consoleBefore = await retry(() => driver.consoleTail(p.name, 16384));
    await retry(() => driver.create(p.configPath));
    await journal('create', 'done');
    step = 'verify';
    await journal('verify', 'begin');
    // As the switch verifies, except the TCP probe: the rehearsal has no network by design.
    const { tcpProbe: _none, ...verify } = ctx.verify;
    const deadline = Date.now() + verify.bootTimeoutMs;
    const v = await verifyBoot(driver, p.name, to, { ...verify, consoleBefore });
    // Beyond the switch's checks, within the same time: the guest's userland comes up too.
    const userland = v.ok ? await waitUserland(driver, p.name, consoleBefore, deadline, verify.pollMs) : null;
    const since = sinceBoot(await retry(() => driver.consoleTail(p.name, 16384)).catch(() => ''), consoleBefore);
    const tail = lastLines(since);
    // A CoW area that filled up: device-mapper dropped the snapshot (the guest's own LV is unaffected).
    const full = await overflowed(driver, p.snapshots);
    if (full !== null) {
      await journal('verify', 'failed', `snapshot ${full.path} invalid`);
      const mib = Math.round(full.cowBytes / 1024 ** 2);
      return {
        status: 'failed', step: 'verify', rule: 'snapshot-full', console: tail,
        reason: `the test boot wrote more than the ${mib} MiB its copy of the disk could hold, so the copy was dropped; the server's own disk was not affected`,
        detail: `${full.path}: CoW area of ${full.cowBytes} bytes overflowed (lv_attr state I)${v.ok ? '' : `; ${v.detail}`}`,
      };
    }
    if (!v.ok) {
      await journal('verify', 'failed', v.detail);
      return { status: 'failed', step: 'verify', rule: 'verify', reason: v.reason, detail: v.detail, console: tail };
    }
    if (userland === null) {
      const detail = `domid ${v.domid} up (frontends connected), but no login prompt and no guest_type report on its console since the boot`;
      await journal('verify', 'failed', detail);
      // Its disk may have been connected by PVH GRUB alone: a kernel that then died without a word
      // is explained as the switch explains it.
      const quiet = to === 'pvh' && kernelSilent(since) ? `; ${SILENT_PVH_CONSOLE}` : '';
      return { status: 'failed', step: 'verify', rule: 'userland', reason: `it started in PVH mode, but its system did not reach a login prompt on its console within ${Math.round(verify.bootTimeoutMs / 1000)} s${quiet}`, detail, console: tail };
    }
    await journal('verify', 'done', `domid ${v.domid}; ${userland}`);
    return { status: 'passed', step: 'verify', rule: null, reason: `it came up in ${to === 'pvh' ? 'PVH' : 'PVH (shim)'} mode`, detail: `domid ${v.domid}`, console: tail };
  } catch (err) {
    await journal(step, 'failed', errText(err)).catch(() => {});
    return { status: 'failed', step, rule: step, reason: customerReason(err), detail: errText(err), console: null };
  }
}

/** Polls the console until the guest's userland shows it is up (userlandSign) or `deadline`; the sign, or null. */
async function waitUserland(driver: HostDriver, name: DomainName, before: string, deadline: number, pollMs: number): Promise<string | null> {
  for (;;) {
    const sign = userlandSign(sinceBoot(await retry(() => driver.consoleTail(name, 16384)), before));
    if (sign !== null || Date.now() >= deadline) return sign;
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
  }
}

/** The first LVM snapshot that went invalid (its CoW area overflowed), or null. */
async function overflowed(driver: HostDriver, snapshots: SnapshotSpec[]): Promise<Extract<SnapshotSpec, { method: 'lvm-snapshot' }> | null> {
  for (const s of snapshots) {
    if (s.method !== 'lvm-snapshot') continue;
    const b = await retry(() => driver.diskBacking(s.path));
    if (b.kind === 'lv' && b.invalid) return s;
  }
  return null;
}

/** What a failed snapshot means, from the driver's failure code: the host cannot do it (cannot rehearse, with why), or a failure. */
function snapshotCannot(err: unknown, s: SnapshotSpec): { rule: CannotRule; reason: string } | null {
  const { failure } = failureOf(err);
  if (s.method === 'reflink' && failure === 'no-reflink') {
    return { rule: 'no-reflink', reason: `the filesystem holding ${s.origin} cannot make reflink copies, so no copy-on-write copy of the disk can be made` };
  }
  if (failure === 'no-dm-snapshot') return { rule: 'no-dm-snapshot', reason: "dom0's kernel has no device-mapper snapshot target: load the dm_snapshot module, then try again" };
  if (failure === 'vg-full') return { rule: 'vg-full', reason: `the volume group of ${s.origin} has no room for the snapshot` };
  return null;
}

/** Destroys the rehearsal domain and removes the snapshots and the config file; null, or why not. */
async function cleanup(driver: HostDriver, journal: Journal, p: Pick<Plan, 'name' | 'configPath' | 'snapshots'>): Promise<string | null> {
  try {
    await journal('destroy', 'begin', p.name);
    await retry(() => driver.destroy(p.name));
    await journal('destroy', 'done');
    await journal('remove-snapshots', 'begin');
    for (const s of p.snapshots) await retry(() => driver.removeSnapshot(s));
    await retry(() => driver.removeFile(p.configPath));
    await journal('remove-snapshots', 'done');
    return null;
  } catch (err) {
    return errText(err);
  }
}

/**
 * Removes whatever rehearsals interrupted by a crash made (their owning process is gone): the
 * rehearsal domain, the snapshots, the config file, from what their journals say they were about
 * to make. Each is recorded as failed (`interrupted`); the guests were never touched. `this-machine`:
 * only rehearsals this machine's processes ran (on a shared store, another machine's quiet
 * rehearsal may be a long boot, and its host may be one only that machine drives).
 * @example
 * await recoverRehearsals(ctx) // => [{ id: 4, status: 'failed', rule: 'interrupted', ... }]
 */
export async function recoverRehearsals(ctx: FleetContext, scope: 'any' | 'this-machine' = 'any'): Promise<Rehearsal[]> {
  const R = rehearsals(ctx.store);
  const out: Rehearsal[] = [];
  for (const r of await R.running()) {
    if (ownerAlive(r)) continue;
    if (scope === 'this-machine' && r.owner?.split(':')[0] !== hostname()) continue;
    await R.update(r.id, { owner: OWNER });
    const guest = await ctx.store.getGuestById(r.guest_id);
    const host = guest && (await ctx.store.getHostById(guest.host_id));
    if (!guest || !host) continue;
    const driver = ctx.driverFor(host);
    const stray = strayOf(await R.journalOf(r.id));
    const clean = async () => {
      // The domain's name is the rehearsal's own (never a guest's): destroying it touches no guest.
      const dom = stray.domain ?? (stray.snapshots.length > 0 || stray.configPath !== null ? rehearsalName(guest.name) : null);
      if (dom !== null) await retry(() => driver.destroy(domainName(dom)));
      for (const s of stray.snapshots) await retry(() => driver.removeSnapshot(s));
      if (stray.configPath !== null) await retry(() => driver.removeFile(stray.configPath!));
    };
    const failed = await clean().then(() => null, (err: unknown) => (err instanceof DriverError ? err.message : errText(err)));
    await R.update(r.id, {
      status: 'failed',
      step: 'interrupted',
      rule: failed === null ? 'interrupted' : 'cleanup',
      reason: failed === null ? 'the test boot was interrupted (pvhctl stopped) before it finished' : 'the test copy of the server could not be removed',
      detail: failed === null ? `recovered: ${stray.snapshots.length} snapshot(s) removed` : `recovery: ${failed}`,
    });
    await ctx.store.audit('pvhctl', 'recover-rehearsal', guest.name, `rehearsal ${r.id}`);
    out.push((await R.get(r.id))!);
  }
  return out;
}

/** A rehearsal as operators and customers see it: outcome, kernel, the customer's words. */
export type RehearsalView = {
  id: number;
  status: Rehearsal['status'];
  kernel: string;
  to: string;
  step: string;
  rule: string | null;
  reason: string | null;
  detail: string | null;
  consoleTail: string | null;
  at: string;
  /** The customer's words ("your server was test-booted in PVH mode on a copy of its disk on DATE: it came up"). */
  message: string;
};

/**
 * The view of one rehearsal record.
 * @example
 * rehearsalView(r) // => { id: 3, status: 'passed', kernel: '6.1.0-26-amd64', message: 'Your server was test-booted ...', ... }
 */
export function rehearsalView(r: Rehearsal): RehearsalView {
  return {
    id: r.id, status: r.status, kernel: r.kernel, to: r.to_type, step: r.step, rule: r.rule, reason: r.reason, detail: r.detail,
    consoleTail: r.console_tail, at: r.updated_at, message: customerMessage(r),
  };
}

/**
 * A guest's newest rehearsal for each kernel and target (PVH, the shim) it was rehearsed with,
 * newest first: the planner holds a guest back by its target's rehearsal, so both stay shown.
 * @example
 * await guestRehearsals(fleet.ctx, guest.id) // => [{ kernel: '6.1.0-26-amd64', to: 'pvh', status: 'passed', ... }]
 */
export async function guestRehearsals(ctx: Pick<FleetContext, 'store'>, guestId: number): Promise<RehearsalView[]> {
  const seen = new Set<string>();
  const out: RehearsalView[] = [];
  for (const r of await rehearsals(ctx.store).ofGuest(guestId, 50)) {
    const key = JSON.stringify([r.kernel, r.to_type]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(rehearsalView(r));
  }
  return out;
}
