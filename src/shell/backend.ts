/**
 * What the Xen Shell asks of the control plane, as one small interface, and its implementation on
 * the fleet (src/fleet/): the same store, policy, pre-check and journaled switch the REST API and
 * the CLI use. Every call names the customer; the guest is looked up among that customer's guests
 * (src/shell/authz.ts), so no call can reach another customer's guest.
 */
import { domainName, type ConsoleChannel } from '../drivers/driver.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { customerReason, modeName } from '../fleet/messages.ts';
import { customerRefusalWords, outcomeWords } from '../fleet/reasons.ts';
import { decodeVerdict } from '../fleet/stored-verdict.ts';
import { becoming } from '../fleet/become.ts';
import type { EventBus } from '../fleet/events.ts';
import { startPower } from '../fleet/power.ts';
import { precheck, startRollback, startSwitch } from '../fleet/switch.ts';
import { runningType, sinceBoot } from '../fleet/verify.ts';
import type { GuestType } from '../fleet/types.ts';
import type { Guest, Host, Operation } from '../store/schema.ts';
import { guestLabel, mayAct, resolveGuest, type ShellAction } from './authz.ts';
import { MODES, type MaintenanceAction, type ShellMode } from './commands.ts';
import { chooseSlot, guestCampaigns, postpone, switchEarly, type ChoiceResult, type GuestCampaignView } from '../fleet/campaign.ts';
import { realClock } from '../fleet/campaign-rules.ts';
import { customerChoiceWords, slotWords } from '../fleet/campaign-words.ts';
import { customerPathWords } from '../fleet/plan-words.ts';
import { nextWords, stepWords } from '../fleet/words.ts';

export type GuestSummary = { label: string; name: string; host: string; mode: GuestType; health: Guest['health'] };

export type GuestStatus = GuestSummary & {
  attention: string | null;
  arch: string | null;
  /** The domain as `xl list -l` shows it now; null when it is not running (or the host is down). */
  domain: { domid: number; state: string; runningAs: GuestType } | null;
  /** Why `domain` is null when the host could not be asked. */
  hostError: string | null;
  operation: { id: number; kind: string; to: GuestType; step: string; status: string } | null;
};

export type ModeOption = { mode: ShellMode; ok: boolean; reason: string };
/** `next`: what would make native PVH possible, in words (src/fleet/words.ts nextWords), or null. */
export type CheckReport = { label: string; mode: GuestType; kernel: string | null; arch: string | null; verdictAt: string | null; options: ModeOption[]; next: string | null };
export type HistoryEntry = { at: string; what: string; outcome: string };

/** A result, or a one-line reason in a customer's words. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export type Progress = (line: string) => void;

/**
 * An attached console; `stop()` detaches. Interactive when the driver can run `xl console` (keys
 * go to the guest through `write`), else read-only, following the console log.
 */
export type ConsoleWatch = { interactive: boolean; write: ((text: string) => void) | null; stop(): void };

/**
 * What became of an attached console: `read-only` when the interactive console could not be had
 * (at attach, or when it ended while the server still runs) and the log is followed instead;
 * `closed` when the console is over. `why` is a clause in a customer's words.
 */
export type ConsoleChange = { kind: 'read-only'; why: string } | { kind: 'closed'; why: string };

export type ShellBackend = {
  guests(customer: string): Promise<GuestSummary[]>;
  status(customer: string, ref: string): Promise<Result<GuestStatus>>;
  check(customer: string, ref: string): Promise<Result<CheckReport>>;
  /** Switches (or with dryRun, shows the plan); resolves when the switch is over. */
  mode(customer: string, ref: string, to: ShellMode, dryRun: boolean, progress: Progress): Promise<Result<string>>;
  undo(customer: string, ref: string, progress: Progress): Promise<Result<string>>;
  power(customer: string, ref: string, action: 'boot' | 'shutdown' | 'reboot', progress: Progress): Promise<Result<string>>;
  /** Streams the console's output to `onData` until stopped; `onChange` when it falls back to read-only or ends. */
  console(customer: string, ref: string, onData: (text: string) => void, onChange: (change: ConsoleChange) => void): Promise<Result<ConsoleWatch>>;
  history(customer: string, ref: string): Promise<Result<HistoryEntry[]>>;
  /** The server's campaign slot and choices, or a choice made (switch now, slot N of the list, postpone). */
  maintenance(customer: string, ref: string, action: MaintenanceAction): Promise<Result<string>>;
  /** Appends to the audit log (actor `customer:NAME`). */
  audit(customer: string, action: string, target: string, detail: string | null): Promise<void>;
};

/**
 * The per-operation fan-out of the fleet's progress events: the API's event bus
 * (src/fleet/events.ts `eventBus()`), passed to openFleet as onEvent.
 */
export type EventHub = Pick<EventBus, 'on'>;

/** `shutdown` and `reboot` wait for the guest to stop as long as a switch does (the fleet's shutdownTimeoutMs). */
export type FleetBackendOptions = {
  /** How often `console` polls the console log. */
  consolePollMs?: number;
};

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * A power action's outcome in a customer's words, from an audit row of a pvhctl that ran power
 * actions outside operations (today they are operations, whose reason is the customer's words).
 * Such a row's detail keeps xl's own error for operators: a failure shows as just that, since
 * its cause is only text now, and text is not told apart by pattern.
 * @example
 * auditOutcome('failed: xl create /etc/xen/web.cfg: /etc/xen/web.cfg: config parsing error') // => 'failed'
 */
export function auditOutcome(detail: string | null): string {
  if (detail === 'done') return 'done';
  if (detail === 'shutdown timed out') return 'it did not shut down in time';
  if (detail !== null && detail.startsWith('failed: ')) return 'failed';
  return '';
}
const actorOf = (customer: string) => `customer:${customer}`;
/** The console a customer sees on attach: the end of the log so far, then what follows. */
const CONSOLE_BACKLOG = 2048;
const CONSOLE_TAIL = 64 * 1024;
/** How long `xl console` must stay up to count as attached (it fails within a second when it cannot). */
const XL_CONSOLE_GRACE_MS = 1500;

/**
 * Where to start a console backlog of at most `max` characters so that it begins at a line: never
 * inside an escape sequence or a UTF-8 character the guest wrote (a sequence never spans a line
 * break). Empty when the window holds no line break.
 * @example
 * backlog('\x1b[1;32mok\x1b[0m\nlogin: ', 8) // => 'login: '
 */
export function backlog(log: string, max: number): string {
  if (log.length <= max) return log;
  const window = log.slice(-max);
  const nl = window.indexOf('\n');
  return nl < 0 ? '' : window.slice(nl + 1);
}

/**
 * Why `xl console` ended or could not start, from what it printed (xenconsole's own error), in a
 * customer's words. xenconsole locks /var/lock/xenconsole.DOMID and exits when it cannot.
 * @example
 * consoleFailure('xenconsole: Could not open /var/lock/xenconsole.4: No such file or directory\r\n')
 * // => "the host's console service could not take its lock file (No such file or directory)"
 */
export function consoleFailure(said: string): string {
  const text = said.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x1f\x7f]+/g, ' ');
  const lock = /xenconsole: Could not open \S*lock\S*: ([^:]{1,80}?)\s*$/m.exec(text) ?? /xenconsole: Could not open \S*lock\S*: ([^:]{1,80}?)(?: {2,}|$)/.exec(text);
  if (lock) return `the host's console service could not take its lock file (${lock[1]!.trim()})`;
  const xc = /xenconsole: ([^\r\n]{1,120})/.exec(text);
  if (xc) return `the host's console service failed (${xc[1]!.trim().replace(/\s+/g, ' ')})`;
  if (/invalid domain identifier|is not running|not found/.test(text)) return 'the server is not running';
  if (/terminal|tty|pty/i.test(text)) return 'the host gave the console no terminal';
  return 'the host ended it';
}

/**
 * Waits `ms`; resolves with a channel equal to `channel` when it is still open then (its output
 * meanwhile held and handed to the first onData listener), or with what it printed when it closed.
 */
async function settled(channel: ConsoleChannel, ms: number): Promise<{ open: ConsoleChannel } | { closed: string }> {
  const held: Uint8Array[] = [];
  let closed = false;
  let listener: ((b: Uint8Array) => void) | null = null;
  channel.onData((b) => (listener !== null ? listener(b) : held.push(b)));
  channel.onClose(() => (closed = true));
  await new Promise((r) => setTimeout(r, ms));
  if (closed) return { closed: new TextDecoder().decode(Buffer.concat(held)).slice(-1024) };
  return { open: {
    onData(fn) {
      listener = fn;
      for (const b of held.splice(0)) fn(b);
    },
    onClose: (fn) => channel.onClose(fn),
    write: (bytes) => channel.write(bytes),
    close: () => channel.close(),
  } };
}

/**
 * The shell backend on a real fleet. `hub` must be the fleet's onEvent fan-out.
 * @example
 * const hub = eventBus();
 * const fleet = await openFleet({ dataDir, onEvent: hub.emit });
 * const backend = fleetBackend(fleet, hub);
 * await backend.guests('alice') // => [{ label: 'web1', name: 'web1', host: 'xen1', mode: 'pv', health: 'ok' }]
 */
export function fleetBackend(fleet: Fleet, hub: EventHub, opts: FleetBackendOptions = {}): ShellBackend {
  const store = fleet.store;
  const pollMs = opts.consolePollMs ?? 500;

  async function own(customer: string): Promise<{ guest: Guest; host: Host }[]> {
    const guests = await store.listGuests({ owner: customer });
    const hosts = new Map((await store.listHosts()).map((h) => [h.id, h]));
    return guests.flatMap((g) => {
      const host = hosts.get(g.host_id);
      return host === undefined ? [] : [{ guest: g, host }];
    });
  }

  /** Finds the customer's guest named `ref` and checks they may take `action` on it now. */
  async function authorize(customer: string, ref: string, action: ShellAction): Promise<Result<{ guest: Guest; host: Host; label: string }>> {
    const mine = await own(customer);
    const rows = mine.map((m) => ({ name: m.guest.name, host: m.host.name, owner: m.guest.owner, health: m.guest.health, m }));
    const found = resolveGuest(rows, customer, ref);
    if (!found.ok) return { ok: false, error: found.error };
    const decision = mayAct(found.guest, customer, action);
    if (!decision.ok) return { ok: false, error: decision.reason };
    const label = guestLabel(found.guest, rows);
    return { ok: true, value: { guest: found.guest.m.guest, host: found.guest.m.host, label } };
  }

  /** Reports an operation's steps in words until it finishes. */
  async function follow(op: Operation, finished: Promise<Operation>, progress: Progress): Promise<Operation> {
    const off = hub.on(op.id, (e) => {
      if (e.phase === 'begin') progress(stepWords(e.step));
      else if (e.phase === 'failed') progress(`  ${stepWords(e.step)}: did not succeed`);
    });
    try {
      return await finished;
    } finally {
      off();
    }
  }

  const outcome = (op: Operation): Result<string> =>
    op.status === 'done' ? { ok: true, value: op.reason === null && op.reason_code === null ? 'Done.' : outcomeWords(op, 'customer') } : { ok: false, error: op.reason === null && op.reason_code === null ? `The change ended as ${op.status}.` : outcomeWords(op, 'customer') };

  return {
    async guests(customer) {
      const mine = await own(customer);
      const rows = mine.map((m) => ({ name: m.guest.name, host: m.host.name }));
      return mine.map((m, i) => ({ label: guestLabel(rows[i]!, rows), name: m.guest.name, host: m.host.name, mode: m.guest.current_type, health: m.guest.health }));
    },

    async status(customer, ref) {
      const a = await authorize(customer, ref, 'view');
      if (!a.ok) return a;
      const { guest, host, label } = a.value;
      let domain: GuestStatus['domain'] = null;
      let hostError: string | null = null;
      try {
        const d = await fleet.hosts.driverFor(host).domain(domainName(guest.name));
        if (d !== null) domain = { domid: d.domid, state: d.state, runningAs: runningType(d) };
      } catch (err) {
        hostError = customerReason(err);
      }
      const [op] = await store.listOperations({ guestId: guest.id, status: ['pending', 'running'], limit: 1 });
      return {
        ok: true,
        value: {
          label,
          name: guest.name,
          host: host.name,
          mode: guest.current_type,
          health: guest.health,
          attention: guest.attention,
          arch: guest.arch,
          domain,
          hostError,
          operation: op === undefined ? null : { id: op.id, kind: op.kind, to: op.to_type, step: op.step, status: op.status },
        },
      };
    },

    async check(customer, ref) {
      const a = await authorize(customer, ref, 'view');
      if (!a.ok) return a;
      const { guest, label } = a.value;
      const verdict = decodeVerdict(guest.verdict);
      const options: ModeOption[] = [];
      for (const mode of MODES) {
        if (mode === guest.current_type) {
          options.push({ mode, ok: true, reason: 'runs in this mode now' });
          continue;
        }
        const pre = await precheck(fleet.ctx, guest, mode);
        // The settings changes are in `mode X --dry-run`; here only whether and why not.
        options.push(pre.ok ? { mode, ok: true, reason: `can switch ("mode ${mode} --dry-run" shows what would change)` } : { mode, ok: false, reason: customerRefusalWords(pre.refusal) });
      }
      const can = becoming(verdict);
      const next = guest.current_type !== 'pvh' && 'next' in can && can.next !== null ? nextWords(can.next) : null;
      return { ok: true, value: { label, mode: guest.current_type, kernel: verdict?.kernelVersion ?? null, arch: guest.arch, verdictAt: guest.verdict_at, options, next } };
    },

    async mode(customer, ref, to, dryRun, progress) {
      const a = await authorize(customer, ref, dryRun ? 'view' : 'mode');
      if (!a.ok) return a;
      const { guest } = a.value;
      if (dryRun) {
        const pre = await precheck(fleet.ctx, guest, to);
        if (!pre.ok) return { ok: false, error: customerRefusalWords(pre.refusal) };
        return { ok: true, value: `The switch to ${modeName(to)} would change:\n${pre.changes.map((c) => `  - ${c}`).join('\n')}\n${pre.diff}` };
      }
      const req = await startSwitch(fleet.ctx, guest, to, { force: false, actor: actorOf(customer) });
      if (req.kind === 'refused') return { ok: false, error: customerRefusalWords(req.refusal) };
      progress(`Switching ${guest.name} to ${modeName(to)} (operation ${req.operation.id}).`);
      return outcome(await follow(req.operation, req.finished, progress));
    },

    async undo(customer, ref, progress) {
      const a = await authorize(customer, ref, 'undo');
      if (!a.ok) return a;
      const req = await startRollback(fleet.ctx, a.value.guest, actorOf(customer));
      if (req.kind === 'refused') return { ok: false, error: customerRefusalWords(req.refusal) };
      progress(`Putting back the settings from before the last switch (operation ${req.operation.id}).`);
      const op = await follow(req.operation, req.finished, progress);
      return op.status === 'rolled-back' ? { ok: true, value: `The server runs in ${modeName(op.from_type)} mode again with its earlier settings.` } : outcome(op);
    },

    async power(customer, ref, action, progress) {
      const a = await authorize(customer, ref, action);
      if (!a.ok) return a;
      // A journaled operation like a switch: refused while another change to the guest runs.
      const req = await startPower(fleet.ctx, a.value.guest, action, { actor: actorOf(customer) });
      if (req.kind === 'refused') return { ok: false, error: customerRefusalWords(req.refusal) };
      return outcome(await follow(req.operation, req.finished, progress));
    },

    async console(customer, ref, onData, onChange) {
      const a = await authorize(customer, ref, 'console');
      if (!a.ok) return a;
      const { guest, host } = a.value;
      const driver = fleet.hosts.driverFor(host);
      const name = domainName(guest.name);
      let last: string;
      let running: Awaited<ReturnType<typeof driver.domain>>;
      try {
        last = await driver.consoleTail(name, CONSOLE_TAIL);
        running = await driver.domain(name);
      } catch (err) {
        return { ok: false, error: `The console could not be read: ${customerReason(err)}.` };
      }
      if (last !== '') onData(backlog(last, CONSOLE_BACKLOG));
      let stopped = false;
      const watch: ConsoleWatch = { interactive: false, write: null, stop: () => void (stopped = true) };

      /** Follows the console log from here on: the read-only console. */
      const readOnly = (why: string) => {
        let timer: NodeJS.Timeout | undefined;
        const poll = async () => {
          if (stopped) return;
          try {
            const now = await driver.consoleTail(name, CONSOLE_TAIL);
            if (now !== last) {
              const fresh = sinceBoot(now, last);
              last = now;
              if (fresh !== '' && !stopped) onData(fresh);
            }
          } catch {
            // A dropped connection to the host: keep watching; the customer detaches when they like.
          }
          if (!stopped) timer = setTimeout(poll, pollMs);
        };
        timer = setTimeout(poll, pollMs);
        watch.interactive = false;
        watch.write = null;
        watch.stop = () => {
          stopped = true;
          clearTimeout(timer);
        };
        onChange({ kind: 'read-only', why });
      };

      if (driver.console === undefined) {
        readOnly('this host offers only the console log');
        return { ok: true, value: watch };
      }
      if (running === null) {
        readOnly('the server is not running');
        return { ok: true, value: watch };
      }
      // `xl console` on a terminal in dom0: what the guest writes from now on, keys to the guest.
      let said = '';
      const attached = await driver.console(name).catch((err: unknown) => ((said = errText(err)), null));
      const r = attached === null ? { closed: said } : await settled(attached, XL_CONSOLE_GRACE_MS);
      if ('closed' in r) {
        readOnly(consoleFailure(r.closed));
        return { ok: true, value: watch };
      }
      const channel = r.open;
      const decoder = new TextDecoder('utf-8');
      let recent = '';
      channel.onData((b) => {
        const text = decoder.decode(b, { stream: true });
        recent = (recent + text).slice(-1024);
        if (!stopped) onData(text);
      });
      channel.onClose(() => {
        if (stopped) return;
        // xl console ends with its domain; when the domain is still there, xenconsole itself gave
        // up (its lock, its terminal): say why and keep showing the log.
        void driver.domain(name).then(
          (now) => {
            if (stopped) return;
            if (now !== null && now.domid === running!.domid) readOnly(consoleFailure(recent));
            else {
              stopped = true;
              onChange({ kind: 'closed', why: now === null ? 'the server stopped' : 'the server restarted' });
            }
          },
          () => {
            if (stopped) return;
            stopped = true;
            onChange({ kind: 'closed', why: 'the host could not be reached' });
          },
        );
      });
      const encoder = new TextEncoder();
      watch.interactive = true;
      watch.write = (text) => channel.write(encoder.encode(text));
      watch.stop = () => {
        stopped = true;
        channel.close();
      };
      return { ok: true, value: watch };
    },

    async history(customer, ref) {
      const a = await authorize(customer, ref, 'view');
      if (!a.ok) return a;
      const { guest } = a.value;
      const ops = await store.listOperations({ guestId: guest.id, limit: 20 });
      const what = (o: Operation) =>
        o.kind === 'switch' ? `switch ${modeName(o.from_type)} → ${modeName(o.to_type)}` : o.kind === 'rollback' ? `undo (back to ${modeName(o.from_type)})` : o.kind;
      const entries: HistoryEntry[] = ops.map((o) => ({ at: o.created_at, what: what(o), outcome: outcomeWords(o, 'customer') }));
      const audit = await store.db
        .selectFrom('audit')
        .selectAll()
        .where('target', '=', guest.name)
        .where('actor', '=', actorOf(customer))
        .where('action', 'in', ['boot', 'shutdown', 'reboot', 'console'])
        .where('detail', '!=', 'requested')
        .orderBy('id', 'desc')
        .limit(20)
        .execute();
      for (const e of audit) entries.push({ at: e.at, what: e.action, outcome: auditOutcome(e.detail) });
      entries.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
      return { ok: true, value: entries.slice(0, 20) };
    },

    async maintenance(customer, ref, action) {
      const a = await authorize(customer, ref, action.kind === 'show' ? 'view' : 'mode');
      if (!a.ok) return a;
      const { guest } = a.value;
      const all = await guestCampaigns(store, guest.id, realClock);
      // The campaign whose slot it waits for, else the latest it was in.
      const c = all.find((x) => x.status === 'planned') ?? all.at(-1);
      if (c === undefined) return { ok: true, value: 'No maintenance is planned for this server.' };
      if (action.kind === 'show') return { ok: true, value: maintenanceWords(c) };
      const who = { kind: 'customer' as const, owner: customer };
      let r: ChoiceResult;
      if (action.kind === 'now') r = await switchEarly(fleet.ctx, c.campaign, guest.id, who);
      else if (action.kind === 'postpone') r = await postpone(store, c.campaign, guest.id, action.days, who);
      else {
        const o = c.choices[action.n - 1];
        if (o === undefined) return { ok: false, error: `there is no window number ${action.n}; "maintenance" lists them` };
        r = await chooseSlot(store, c.campaign, guest.id, new Date(o.start), who, realClock);
      }
      if (!r.ok) return { ok: false, error: customerChoiceWords(r.refusal) };
      const tz = c.slot?.timeZone ?? 'UTC';
      if (action.kind === 'now') return { ok: true, value: 'The switch has started; "status" follows it.' };
      return { ok: true, value: `Your server's maintenance window is now ${slotWords(new Date(r.guest.slot_start!), new Date(r.guest.slot_end!), tz)}.` };
    },

    async audit(customer, action, target, detail) {
      await store.audit(actorOf(customer), action, target, detail);
    },
  };
}

/**
 * A guest's campaign slot and choices in a customer's words, for the shell's `maintenance`.
 * @example
 * maintenanceWords(view) // => 'Maintenance "winter": switching to PVH mode on Wed, 9 Dec 2026, 02:00 to 05:00 (Europe/Berlin).\n...'
 */
export function maintenanceWords(c: GuestCampaignView): string {
  const tz = c.slot?.timeZone ?? 'UTC';
  const when = c.slot === null ? null : slotWords(new Date(c.slot.start), new Date(c.slot.end), tz);
  const head = `Maintenance ${JSON.stringify(c.campaign)}`;
  switch (c.status) {
    case 'held':
      return `${head}: this server is not scheduled yet. ${customerPathWords(c.path)}`;
    case 'submitting':
    case 'submitted':
      return `${head}: the switch is in progress.`;
    case 'switched':
      return `${head}: done; the server was switched.`;
    case 'rolled-back':
    case 'refused':
    case 'needs-attention':
      return `${head}: the switch did not go through${c.outcomeReason ? `: ${c.outcomeReason}` : '.'}`;
    case 'skipped':
      return `${head}: cancelled; nothing was changed.`;
    case 'planned':
      break;
  }
  const lines = [`${head}: the server's switch is planned for ${when ?? 'a window still to be set'}.`];
  if (c.campaignStatus !== 'running') return [...lines, 'The campaign is paused; nothing changes until it resumes.'].join('\n');
  lines.push('"maintenance now" switches it now instead.');
  if (c.choices.length > 0) {
    lines.push('Other windows ("maintenance slot N" picks one):');
    c.choices.forEach((o, i) => lines.push(`  ${i + 1}. ${slotWords(new Date(o.start), new Date(o.end), tz)}`));
  }
  if (c.postponeDays > 0) lines.push(`"maintenance postpone DAYS" postpones it once, by up to ${c.postponeDays} days.`);
  return lines.join('\n');
}
