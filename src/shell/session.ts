/**
 * One customer's Xen Shell session, independent of SSH: terminal input in, terminal output out.
 * The server (src/shell/server.ts) wires a session to an ssh2 channel; tests drive it directly.
 * Interactive sessions (a pty) get the line editor and the console; a command given on the ssh
 * command line (`ssh alice@host status`) runs once and sets the exit status.
 */
import { printable } from '../util/escape.ts';
import { modeName } from '../fleet/messages.ts';
import type { CheckReport, ConsoleWatch, GuestStatus, GuestSummary, HistoryEntry, Result, ShellBackend } from './backend.ts';
import { complete, helpText, parseLine, type ShellCommand } from './commands.ts';
import { CONSOLE_RESET, filterConsole, newFilter } from './console-filter.ts';
import { feed, newEditor, render, type EditorState } from './editor.ts';
import { stepWords } from '../fleet/words.ts';

export type SessionIO = {
  /** Writes text to the terminal (already with CR LF line ends in interactive mode). */
  write(text: string): void;
  /** Ends the session with an exit status. */
  end(code: number): void;
};

export type SessionOptions = {
  customer: string;
  /** The guest chosen at login (`alice+web1`), if any. */
  guest: string | null;
  /** Where the customer connects from and with which key, for the audit log. */
  from: string;
};

/** ECMA-48 RIS (reset to initial state). */
export const TERMINAL_RESET = '\x1bc';
/** Erase the whole display, then cursor to the top left. */
export const TERMINAL_CLEAR = '\x1b[2J\x1b[H';

/** Ctrl-]: leaves the console, as in `xl console` and telnet. */
export const DETACH = '\x1d';

/** Shows a value that came from a guest or the store. */
const show = (s: string | null | undefined): string => printable(s ?? '');
/** Shows a multi-line text (a diff, a report) line by line. */
const showLines = (s: string): string => s.split('\n').map(printable).join('\n');

function formatStatus(s: GuestStatus): string {
  const lines = [`${show(s.label)} on host ${show(s.host)}`];
  const running = s.domain === null ? (s.hostError !== null ? `unknown (${show(s.hostError)})` : 'not running') : `running as ${modeName(s.domain.runningAs)} (${show(s.domain.state)}, domain id ${s.domain.domid})`;
  lines.push(`  mode:    ${modeName(s.mode)}`, `  state:   ${running}`);
  if (s.arch !== null) lines.push(`  arch:    ${show(s.arch)}`);
  if (s.operation !== null) lines.push(`  change:  ${s.operation.kind} to ${modeName(s.operation.to)} in progress: ${stepWords(s.operation.step)}`);
  if (s.health === 'needs-attention') lines.push(`  ATTENTION: ${show(s.attention ?? 'a change did not finish; our team has been alerted')}`);
  return lines.join('\n');
}

function formatCheck(c: CheckReport): string {
  const kernel = c.kernel !== null ? `kernel ${show(c.kernel)}${c.arch !== null ? ` (${show(c.arch)})` : ''}` : 'kernel not identified';
  const when = c.verdictAt !== null ? `, inspected ${show(c.verdictAt.slice(0, 16).replace('T', ' '))} UTC` : ', not inspected yet';
  const lines = [`${show(c.label)} runs in ${modeName(c.mode)} mode; ${kernel}${when}.`];
  for (const o of c.options) {
    const mark = o.mode === c.mode ? 'now' : o.ok ? 'yes' : 'no';
    lines.push(`  ${o.mode.padEnd(9)} ${mark.padEnd(4)} ${show(o.reason)}`);
  }
  if (c.next !== null) lines.push(show(c.next));
  return lines.join('\n');
}

function formatHistory(h: HistoryEntry[]): string {
  if (h.length === 0) return 'No changes yet.';
  return h.map((e) => `${show(e.at.slice(0, 19).replace('T', ' '))}  ${show(e.what)}: ${show(e.outcome)}`).join('\n');
}

function formatGuests(gs: GuestSummary[], current: string | null): string {
  if (gs.length === 0) return 'You have no servers here.';
  return gs.map((g) => `${g.label === current ? '*' : ' '} ${show(g.label).padEnd(24)} ${modeName(g.mode).padEnd(24)} ${g.health === 'ok' ? '' : g.health}`).join('\n');
}

/** The one-line outcome of a command. */
type Outcome = { text: string; code: 0 | 1 | 2 };

/**
 * Starts a session: writes the banner (interactive) and returns the input handler.
 * @example
 * const s = startSession(backend, { customer: 'alice', guest: null, from: '127.0.0.1' }, io, true);
 * s.input('status\r');
 */
export function startSession(backend: ShellBackend, opts: SessionOptions, io: SessionIO, interactive: boolean) {
  const { customer } = opts;
  let current: string | null = opts.guest;
  let guestNames: string[] = [];
  let editor: EditorState = newEditor();
  let busy = false;
  let closed = false;
  const queue: string[] = [];
  let consoleOn: ConsoleWatch | null = null;
  let consoleFilter = newFilter();
  /** True while the console's backlog is being written, before `consoleOn` is set. */
  let attaching = false;
  let pendingInput = '';

  const out = (text: string) => {
    if (closed) return;
    io.write(interactive ? text.replace(/\r?\n/g, '\r\n') : text);
  };
  const println = (text: string) => out(`${text}\n`);
  const prompt = () => `xen-shell ${customer}${current !== null ? `:${current}` : ''}> `;
  const showPrompt = () => {
    if (interactive) out(render(prompt(), editor));
  };

  async function refreshGuests(): Promise<GuestSummary[]> {
    const gs = await backend.guests(customer);
    guestNames = gs.map((g) => g.label);
    return gs;
  }

  const needGuest = (): string | null => {
    if (current === null) {
      if (guestNames.length === 0) println('You have no servers here.');
      else if (interactive) println('Choose a server first: "use NAME" ("guests" lists them).');
      else println(`Choose a server by logging in as ${customer}+SERVER; yours: ${guestNames.map(show).join(', ')}`);
    }
    return current;
  };

  const fromResult = <T>(r: Result<T>, fmt: (v: T) => string): Outcome => (r.ok ? { text: fmt(r.value), code: 0 } : { text: show(r.error), code: 1 });

  async function runCommand(command: ShellCommand): Promise<Outcome> {
    switch (command.cmd) {
      case 'empty':
        return { text: '', code: 0 };
      case 'help':
        return { text: helpText(command.topic), code: 0 };
      case 'exit':
        return { text: 'Bye.', code: 0 };
      case 'guests':
        return { text: formatGuests(await refreshGuests(), current), code: 0 };
      case 'use': {
        const gs = await refreshGuests();
        const found = gs.find((g) => g.label === command.guest) ?? (gs.filter((g) => g.name === command.guest).length === 1 ? gs.find((g) => g.name === command.guest) : undefined);
        if (found === undefined) {
          const r = await backend.status(customer, command.guest); // the same error text as every other refusal
          return { text: r.ok ? `Say which: ${gs.filter((g) => g.name === command.guest).map((g) => g.label).join(', ')}` : show(r.error), code: 1 };
        }
        current = found.label;
        return { text: `Now acting on ${show(found.label)} (${modeName(found.mode)} mode).`, code: 0 };
      }
    }
    const guest = needGuest();
    if (guest === null) return { text: '', code: 1 };
    const progress = (line: string) => println(show(line));
    switch (command.cmd) {
      case 'status':
        return fromResult(await backend.status(customer, guest), formatStatus);
      case 'check':
        return fromResult(await backend.check(customer, guest), formatCheck);
      case 'history':
        return fromResult(await backend.history(customer, guest), formatHistory);
      case 'mode': {
        if (command.to === null) {
          const s = await backend.status(customer, guest);
          return fromResult(s, (v) => `${show(v.label)} runs in ${modeName(v.mode)} mode. "mode pvh", "mode pvh-shim" or "mode pv" switches it; "check" says which will work.`);
        }
        return fromResult(await backend.mode(customer, guest, command.to, command.dryRun, progress), showLines);
      }
      case 'undo':
        return fromResult(await backend.undo(customer, guest, progress), show);
      case 'maintenance':
        return fromResult(await backend.maintenance(customer, guest, command.action), showLines);
      case 'boot':
      case 'shutdown':
      case 'reboot':
        return fromResult(await backend.power(customer, guest, command.cmd, progress), show);
      case 'console': {
        if (!interactive) return { text: 'console needs a terminal: connect with "ssh -t"', code: 2 };
        attaching = true;
        const r = await backend.console(
          customer,
          guest,
          (text) => {
            const f = filterConsole(consoleFilter, text);
            consoleFilter = f.state;
            if (consoleOn !== null || attaching) out(f.out);
          },
          (change) => {
            if (consoleOn === null && !attaching) return;
            out('\r\n');
            if (change.kind === 'read-only') {
              // At attach, the server stopped or xenconsole could not start; later, xenconsole gave up.
              println(`No interactive console: ${show(change.why)}.`);
              println('(read-only: the console log, as the guest writes it)');
              return;
            }
            println(`The console closed: ${show(change.why)}.`);
            detach(false);
          },
        );
        attaching = false;
        if (!r.ok) return { text: show(r.error), code: 1 };
        consoleOn = r.value;
        return { text: '', code: 0 };
      }
    }
  }

  /** Runs one line; returns the exit code (for exec mode). */
  async function runLine(line: string): Promise<number> {
    const parsed = parseLine(line);
    if (!parsed.ok) {
      await backend.audit(customer, 'shell.refused', current ?? '-', printable(line.slice(0, 120)));
      println(parsed.error);
      return 2;
    }
    const command = parsed.command;
    if (command.cmd !== 'empty' && command.cmd !== 'help') {
      const detail =
        command.cmd === 'mode'
          ? `mode ${command.to ?? ''}${command.dryRun ? ' --dry-run' : ''}`.trim()
          : command.cmd === 'use'
            ? `use ${command.guest}`
            : command.cmd === 'maintenance'
              ? `maintenance ${command.action.kind}${command.action.kind === 'slot' ? ` ${command.action.n}` : command.action.kind === 'postpone' ? ` ${command.action.days}` : ''}`
              : command.cmd;
      await backend.audit(customer, `shell.${command.cmd}`, current ?? '-', detail);
    }
    if (command.cmd === 'console' && interactive) {
      consoleFilter = newFilter();
      // A clean screen: reset the terminal (RIS: modes, colours, character sets a previous
      // console may have left), clear it and home the cursor, then the backlog from a line start.
      out(`${TERMINAL_RESET}${TERMINAL_CLEAR}`);
      println(`Attaching to the console of ${show(current ?? '')}. Press Ctrl-] to detach.`);
    }
    let result: Outcome;
    try {
      result = await runCommand(command);
    } catch (err) {
      result = { text: `Something went wrong on our side (${show(err instanceof Error ? err.message : String(err)).slice(0, 200)}); please try again or contact support.`, code: 1 };
    }
    if (result.text !== '') println(result.text);
    if (command.cmd === 'exit') {
      close(0);
      return 0;
    }
    return result.code;
  }

  function close(code: number) {
    if (closed) return;
    if (consoleOn !== null) out(CONSOLE_RESET);
    consoleOn?.stop();
    consoleOn = null;
    void backend.audit(customer, 'shell.logout', current ?? '-', opts.from).catch(() => {});
    io.end(code);
    closed = true;
  }

  async function drain() {
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0 && !closed && consoleOn === null) {
        await runLine(queue.shift()!);
      }
    } finally {
      busy = false;
    }
    if (closed) return;
    // Keys typed while a command ran: to the line editor, or to the console it attached.
    const typed = pendingInput;
    pendingInput = '';
    if (typed !== '') handleInput(typed);
    else if (consoleOn === null) showPrompt();
  }

  function detach(byKey = true) {
    consoleOn?.stop();
    consoleOn = null;
    out(CONSOLE_RESET); // whatever the guest left set, the shell's own lines start plain
    if (byKey) {
      out('\r\n');
      println('Detached from the console.');
    }
    void backend.audit(customer, 'shell.console-detach', current ?? '-', null).catch(() => {});
    if (queue.length > 0) void drain();
    else showPrompt();
  }

  function handleInput(data: string) {
    if (closed) return;
    if (consoleOn !== null) {
      // Keys go to the guest (when the console is interactive) up to the detach key, never past it.
      const at = data.indexOf(DETACH);
      const keys = at < 0 ? data : data.slice(0, at);
      if (keys !== '') consoleOn.write?.(keys);
      if (at >= 0) {
        detach();
        const rest = data.slice(at + 1); // typed after the detach key: for the shell
        if (rest !== '') handleInput(rest);
      }
      return;
    }
    if (busy) {
      if (data.includes('\x03')) println('(the change goes on; it cannot be stopped halfway — "status" shows it)');
      pendingInput = (pendingInput + data.replace(/\x03/g, '')).slice(-1024);
      return;
    }
    const r = feed(editor, data, prompt(), (before) => complete(before, guestNames));
    editor = r.state;
    if (interactive) out(r.out); // without a pty the client echoes (or does not need) what it sends
    for (const e of r.events) {
      if (e.kind === 'eof') {
        println('Bye.');
        close(0);
        return;
      }
      if (e.kind === 'interrupt') {
        showPrompt();
        continue;
      }
      queue.push(e.line);
    }
    if (queue.length > 0) void drain();
  }

  async function begin() {
    await backend.audit(customer, 'shell.login', opts.guest ?? '-', opts.from);
    const gs = await refreshGuests();
    if (current !== null) {
      const match = gs.find((g) => g.label === current || g.name === current);
      if (match === undefined) {
        println(`You have no server called ${JSON.stringify(show(current))}.`);
        current = null;
        if (!interactive) return false;
      } else current = match.label;
    }
    if (current === null && gs.length === 1) current = gs[0]!.label;
    if (interactive) {
      println(`Welcome to the Xen Shell, ${show(customer)}. Type "help" for the commands, Tab completes.`);
      println(formatGuests(gs, current));
      showPrompt();
    }
    return true;
  }

  const ready = begin();
  return {
    /** Terminal input (interactive sessions). */
    input(data: string) {
      void ready.then(() => handleInput(data));
    },
    /** Runs the one command of a non-interactive session and ends it. */
    async exec(line: string): Promise<number> {
      if (!(await ready)) {
        close(1);
        return 1;
      }
      const code = await runLine(line);
      close(code);
      return code;
    },
    /** The client went away. */
    close: () => close(0),
    ready,
  };
}
