/**
 * The Xen Shell's command language: one line in, one typed command out. Nothing a customer types
 * is ever handed to a shell or a driver as text; it is parsed here into a `ShellCommand` whose
 * arguments are drawn from fixed sets (modes) or checked names (guests), and everything else is a
 * one-line error.
 */
import { SWITCH_TARGETS, type SwitchTarget } from '../fleet/types.ts';

/** The modes a customer may switch a guest to (HVM is an operator's decision, not a customer's). */
export const MODES = SWITCH_TARGETS;
export type ShellMode = SwitchTarget;

/** A parsed command line. */
export type ShellCommand =
  | { cmd: 'help'; topic: CommandName | null }
  | { cmd: 'status' }
  | { cmd: 'check' }
  | { cmd: 'mode'; to: ShellMode | null; dryRun: boolean }
  | { cmd: 'undo' }
  | { cmd: 'boot' }
  | { cmd: 'shutdown' }
  | { cmd: 'reboot' }
  | { cmd: 'console' }
  | { cmd: 'history' }
  | { cmd: 'guests' }
  | { cmd: 'use'; guest: string }
  /** The server's maintenance slot in a campaign, and the customer's choices (src/fleet/campaign.ts). */
  | { cmd: 'maintenance'; action: MaintenanceAction }
  | { cmd: 'exit' }
  | { cmd: 'empty' };

/** `maintenance` alone shows the slot and the choices; `now`, `slot N` (from that list), `postpone DAYS` choose. */
export type MaintenanceAction = { kind: 'show' } | { kind: 'now' } | { kind: 'slot'; n: number } | { kind: 'postpone'; days: number };

export type ParseResult = { ok: true; command: ShellCommand } | { ok: false; error: string };

/** What `help` says about each command, in the order it lists them. */
export const COMMANDS = {
  status: { usage: 'status', summary: 'show whether the server runs, in which mode, and any change in progress' },
  check: { usage: 'check', summary: 'show which modes the server can run in, and why' },
  mode: { usage: 'mode [pvh|pvh-shim|pv] [--dry-run]', summary: 'switch the server to another mode, verified, rolled back if it fails' },
  undo: { usage: 'undo', summary: 'put the server back to the settings it had before its last switch' },
  boot: { usage: 'boot', summary: 'start the server' },
  shutdown: { usage: 'shutdown', summary: 'shut the server down cleanly' },
  reboot: { usage: 'reboot', summary: 'shut the server down cleanly and start it again' },
  console: { usage: 'console', summary: "attach to the server's console (Ctrl-] detaches)" },
  maintenance: { usage: 'maintenance [now | slot N | postpone DAYS]', summary: "show the server's planned maintenance window; switch now, pick another window, or postpone once" },
  history: { usage: 'history', summary: "show the server's mode changes and this shell's recent actions" },
  guests: { usage: 'guests', summary: 'list your servers' },
  use: { usage: 'use SERVER', summary: 'choose which of your servers the commands act on' },
  help: { usage: 'help [COMMAND]', summary: 'list the commands, or describe one' },
  exit: { usage: 'exit', summary: 'leave the shell' },
} as const;

export type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

/** Aliases people type out of habit; each maps to one command. */
const ALIASES: Record<string, CommandName> = { quit: 'exit', logout: 'exit', '?': 'help', start: 'boot', create: 'boot', list: 'guests' };

/** The longest line the shell accepts; real commands are under 40 characters. */
export const MAX_LINE = 200;

// Words are plain: letters, digits and the punctuation guest names use. Anything else (quotes,
// `;`, `|`, `$`, backticks, control characters) is refused before a command is even looked up.
const WORD = /^[A-Za-z0-9_.:@?-]+$/;
/** A guest as the shell accepts it: a Xen domain name, or NAME@HOST when a customer has two of one name. */
export const GUEST_REF = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(@[A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$/;

const isCommand = (w: string): w is CommandName => Object.hasOwn(COMMANDS, w);

/**
 * Resolves a typed word to a command name (exact name or alias), or null.
 * @example
 * commandOf('QUIT') // => 'exit'
 * commandOf('ls') // => null
 */
export function commandOf(word: string): CommandName | null {
  const w = word.toLowerCase();
  if (isCommand(w)) return w;
  return Object.hasOwn(ALIASES, w) ? (ALIASES[w] ?? null) : null;
}

/** Shows a customer's word back to them safely and briefly. */
const quote = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

/**
 * Parses one line typed at the Xen Shell.
 * @example
 * parseLine('mode pvh') // => { ok: true, command: { cmd: 'mode', to: 'pvh', dryRun: false } }
 * parseLine('mode hvm') // => { ok: false, error: 'mode: unknown mode "hvm"; choose pvh, pvh-shim or pv' }
 * parseLine('status; rm -rf /') // => { ok: false, error: 'the shell takes plain words only: ";" is not allowed' }
 */
export function parseLine(line: string): ParseResult {
  if (line.length > MAX_LINE) return { ok: false, error: `line too long (${line.length} characters; at most ${MAX_LINE})` };
  const words = line.trim().split(/[ \t]+/).filter((w) => w.length > 0);
  const first = words[0];
  if (first === undefined) return { ok: true, command: { cmd: 'empty' } };
  for (const w of words) {
    if (!WORD.test(w)) {
      const bad = [...w].find((c) => !/[A-Za-z0-9_.:@?-]/.test(c)) ?? w;
      return { ok: false, error: `the shell takes plain words only: ${JSON.stringify(bad)} is not allowed` };
    }
  }
  const name = commandOf(first);
  if (name === null) return { ok: false, error: `unknown command ${quote(first)}; type "help" for the list` };
  const args = words.slice(1);
  const none = (command: ShellCommand): ParseResult =>
    args.length === 0 ? { ok: true, command } : { ok: false, error: `${name}: takes no arguments (usage: ${COMMANDS[name].usage})` };
  switch (name) {
    case 'help': {
      if (args.length === 0) return { ok: true, command: { cmd: 'help', topic: null } };
      const topic = args.length === 1 ? commandOf(args[0]!) : null;
      if (topic === null) return { ok: false, error: `help: no such command ${quote(args.join(' '))}` };
      return { ok: true, command: { cmd: 'help', topic } };
    }
    case 'mode': {
      let to: ShellMode | null = null;
      let dryRun = false;
      for (const a of args) {
        const lower = a.toLowerCase();
        if (lower === '--dry-run' || lower === '-n') {
          if (dryRun) return { ok: false, error: 'mode: --dry-run given twice' };
          dryRun = true;
        } else if ((MODES as readonly string[]).includes(lower)) {
          if (to !== null) return { ok: false, error: `mode: give one mode (usage: ${COMMANDS.mode.usage})` };
          to = lower as ShellMode;
        } else if (lower.startsWith('-')) {
          return { ok: false, error: `mode: unknown option ${quote(a)}` };
        } else {
          return { ok: false, error: `mode: unknown mode ${quote(a)}; choose pvh, pvh-shim or pv` };
        }
      }
      if (dryRun && to === null) return { ok: false, error: 'mode: --dry-run needs a mode' };
      return { ok: true, command: { cmd: 'mode', to, dryRun } };
    }
    case 'use': {
      if (args.length !== 1) return { ok: false, error: `use: give one server name (usage: ${COMMANDS.use.usage})` };
      const guest = args[0]!;
      if (!GUEST_REF.test(guest)) return { ok: false, error: `use: ${quote(guest)} is not a server name` };
      return { ok: true, command: { cmd: 'use', guest } };
    }
    case 'maintenance': {
      const [verb, arg, ...more] = args.map((a) => a.toLowerCase());
      const usage = `maintenance: usage: ${COMMANDS.maintenance.usage}`;
      if (more.length > 0) return { ok: false, error: usage };
      if (verb === undefined) return { ok: true, command: { cmd: 'maintenance', action: { kind: 'show' } } };
      if (verb === 'now' && arg === undefined) return { ok: true, command: { cmd: 'maintenance', action: { kind: 'now' } } };
      const n = arg !== undefined && /^\d{1,3}$/.test(arg) ? Number(arg) : null;
      if (verb === 'slot' && n !== null && n >= 1) return { ok: true, command: { cmd: 'maintenance', action: { kind: 'slot', n } } };
      if (verb === 'postpone' && n !== null && n >= 1) return { ok: true, command: { cmd: 'maintenance', action: { kind: 'postpone', days: n } } };
      return { ok: false, error: usage };
    }
    case 'status':
    case 'check':
    case 'undo':
    case 'boot':
    case 'shutdown':
    case 'reboot':
    case 'console':
    case 'history':
    case 'guests':
    case 'exit':
      return none({ cmd: name });
  }
}

/**
 * The help text: every command with its summary, or one command's usage.
 * @example
 * helpText('undo') // => 'undo\n  put the server back to the settings it had before its last switch'
 */
export function helpText(topic: CommandName | null): string {
  if (topic !== null) return `${COMMANDS[topic].usage}\n  ${COMMANDS[topic].summary}`;
  const width = Math.max(...COMMAND_NAMES.map((n) => COMMANDS[n].usage.length));
  return ['Commands:', ...COMMAND_NAMES.map((n) => `  ${COMMANDS[n].usage.padEnd(width)}  ${COMMANDS[n].summary}`)].join('\n');
}

/** What tab completion offers: the text to insert at the cursor, and the choices when ambiguous. */
export type Completion = { insert: string; choices: string[] };

function commonPrefix(words: string[]): string {
  if (words.length === 0) return '';
  let p = words[0]!;
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/**
 * Completes the word before the cursor: a command name first, then that command's arguments
 * (modes, the customer's own server names, command names for help).
 * @example
 * complete('mo', []) // => { insert: 'de ', choices: [] }
 * complete('mode pvh', []) // => { insert: '', choices: ['pvh', 'pvh-shim'] }
 * complete('use w', ['web1', 'web2']) // => { insert: 'eb', choices: [] }
 */
export function complete(before: string, guests: readonly string[]): Completion {
  const endsInSpace = /[ \t]$/.test(before);
  const words = before.trim().split(/[ \t]+/).filter((w) => w.length > 0);
  const current = endsInSpace || words.length === 0 ? '' : words[words.length - 1]!;
  const done = endsInSpace ? words : words.slice(0, -1);
  let options: readonly string[];
  if (done.length === 0) {
    options = COMMAND_NAMES;
  } else {
    const name = commandOf(done[0]!);
    const n = done.length - 1;
    if (name === 'mode') options = n === 0 ? [...MODES, '--dry-run'] : n === 1 && !done.includes('--dry-run') ? ['--dry-run'] : [];
    else if (name === 'use' && n === 0) options = guests;
    else if (name === 'maintenance' && n === 0) options = ['now', 'slot', 'postpone'];
    else if (name === 'help' && n === 0) options = COMMAND_NAMES;
    else options = [];
  }
  const matches = options.filter((o) => o.startsWith(current));
  if (matches.length === 0) return { insert: '', choices: [] };
  if (matches.length === 1) return { insert: `${matches[0]!.slice(current.length)} `, choices: [] };
  const prefix = commonPrefix(matches);
  return { insert: prefix.slice(current.length), choices: prefix.length > current.length ? [] : [...matches].sort() };
}
