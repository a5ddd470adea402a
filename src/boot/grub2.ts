/**
 * GRUB 2 grub.cfg → boot menu. The script is read statically: `set` assignments, `load_env`
 * (from the guest's grubenv) and the `if` tests generated configs use are followed, with values
 * either known or unknown; nothing is executed. When the default depends on something unknown,
 * the answer is "cannot decide", never a guess. The default is then resolved as
 * grub-core/normal/menu.c does: a number is an index, otherwise a title or `--id`; `a>b` walks
 * into submenus; no match or out of range is entry 0.
 */
import { type Stmt, type Word, parseScript, raw } from './grub2-script.ts';
import { type BootEntry, type BootMenu, type DefaultChoice, MAX_ENTRIES } from './types.ts';

const UNKNOWN = Symbol('unknown');
type Value = string | typeof UNKNOWN;
type Env = Map<string, Value>;

export type Grub2Input = {
  file: string;
  text: string;
  /** The guest's grubenv variables, or null when there is none. */
  grubenv: Map<string, string> | null;
  /** BLS entries to insert where grub.cfg runs `blscfg` (Fedora/RHEL), already in GRUB's order. */
  bls?: BootEntry[];
  /**
   * Other files beside grub.cfg, by name (`custom.cfg`, which Debian's 41_custom sources): their
   * text, or null when the guest has none. Files not listed are unknown.
   */
  siblings?: Map<string, string | null>;
};

/** `source` nesting followed at most (GRUB itself has no limit; a loop must end). */
const MAX_SOURCE_DEPTH = 4;

/** Variables GRUB itself sets (grub-core/normal/main.c features), known for any GRUB >= 2.00. */
const BUILTIN: [string, string][] = [
  ['feature_menuentry_id', 'y'],
  ['feature_default_font_path', 'y'],
  ['feature_all_video_module', 'y'],
  ['feature_timeout_style', 'y'],
  ['feature_platform_search_hint', 'y'],
  ['feature_200_final', 'y'],
];

const LINUX = new Set(['linux', 'linux16', 'linuxefi', 'linux32']);
const INITRD = new Set(['initrd', 'initrd16', 'initrdefi', 'initrd32']);

function expandText(text: string, env: Env): Value {
  let unknown = false;
  const out = text.replace(/\\\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*|[0-9?#@*])/g, (m, braced?: string, bare?: string) => {
    if (m === '\\$') return '$';
    const name = braced ?? bare ?? '';
    const v = env.get(name);
    if (v === UNKNOWN || (v === undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))) {
      unknown = true;
      return '';
    }
    return v ?? '';
  });
  return unknown ? UNKNOWN : out;
}

/**
 * Expands a word where GRUB would (not inside single quotes).
 * @example
 * expand(word('"${saved_entry}"'), new Map([['saved_entry', '1>2']])) // => '1>2'
 */
export function expand(w: Word, env: Env): Value {
  let s = '';
  for (const p of w) {
    const v = p.literal ? p.text : expandText(p.text, env);
    if (v === UNKNOWN) return UNKNOWN;
    s += v;
  }
  return s;
}

type Cond = boolean | typeof UNKNOWN;

/** Evaluates a `[ … ]` / `test …` condition when every operand is known; otherwise UNKNOWN. */
function evalTest(words: Value[], grubenvPresent: boolean, siblings: Map<string, string | null>): Cond {
  let args = words;
  if (args[0] === '[') {
    if (args[args.length - 1] !== ']') return UNKNOWN;
    args = args.slice(1, -1);
  } else if (args[0] === 'test') args = args.slice(1);
  else return UNKNOWN;
  let negate = false;
  if (args[0] === '!') {
    negate = true;
    args = args.slice(1);
  }
  let r: Cond = UNKNOWN;
  if (args.length === 1) r = args[0] === UNKNOWN ? UNKNOWN : args[0] !== '';
  else if (args.length === 2 && (args[0] === '-n' || args[0] === '-z')) {
    r = args[1] === UNKNOWN ? UNKNOWN : (args[1] !== '') === (args[0] === '-n');
  } else if (args.length === 2 && (args[0] === '-s' || args[0] === '-f' || args[0] === '-e')) {
    // Only grubenv's presence is known to us; other files depend on the boot device.
    const p = args[1];
    const base = typeof p === 'string' ? p.slice(p.lastIndexOf('/') + 1) : null;
    if (base === 'grubenv') r = grubenvPresent;
    else if (base !== null && siblings.has(base)) {
      const t = siblings.get(base)!;
      r = t !== null && (args[0] !== '-s' || t.length > 0);
    }
  } else if (args.length === 3 && (args[1] === '=' || args[1] === '==' || args[1] === '!=')) {
    if (args[0] === UNKNOWN || args[2] === UNKNOWN) r = UNKNOWN;
    else r = (args[0] === args[2]) === (args[1] !== '!=');
  }
  if (r === UNKNOWN) return UNKNOWN;
  return negate ? !r : r;
}

function merge(a: Env, b: Env): Env {
  const out: Env = new Map();
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    out.set(k, x === y && x !== undefined ? x : UNKNOWN);
  }
  return out;
}

type Node = { entry: BootEntry | null; title: string; id: string | null; children: Node[] | null; conditional: boolean };

/**
 * Reads a grub.cfg into a boot menu.
 * @example
 * parseGrub2({ file: '/boot/grub/grub.cfg', text: "set default=1\nmenuentry 'A' { linux /a }\nmenuentry 'B' { linux /b }\n", grubenv: null })
 * // => { loader: 'grub2', entries: [A, B], default: { decided: true, index: 1, reason: 'set default=1: entry 1' }, ... }
 */
export function parseGrub2(input: Grub2Input): BootMenu {
  const warnings: string[] = [];
  const stmts = parseScript(input.text, input.file);
  // The platform GRUB runs on (pc, efi, xen, xen_pvh) is not known from the disk.
  let env: Env = new Map<string, Value>([...BUILTIN, ['grub_platform', UNKNOWN], ['grub_cpu', UNKNOWN]]);
  let count = 0;
  let sourced = false;
  let sourceDepth = 0;
  const siblings = input.siblings ?? new Map<string, string | null>();

  const entryFrom = (title: string, id: string | null, submenu: string[], body: Stmt[], envHere: Env, conditional: boolean): BootEntry => {
    const e: BootEntry = { title, id, submenu, type: 'other', kernel: null, initrd: [], args: null, conditional };
    // The body's own `set` lines (e.g. `set root=`) matter for paths only; kernel and initrd lines are read as written.
    const local: Env = new Map(envHere);
    const visit = (ss: Stmt[]) => {
      for (const s of ss) {
        if (s.kind === 'if') {
          for (const b of s.branches) visit(b.body);
          if (s.otherwise) visit(s.otherwise);
          continue;
        }
        if (s.kind !== 'cmd') continue;
        const cmd = raw(s.words[0]!);
        const rest = s.words.slice(1).map((w) => expand(w, local));
        const text = rest.map((v) => (v === UNKNOWN ? '${?}' : v));
        if (LINUX.has(cmd) && e.kernel === null) {
          e.type = 'linux';
          e.kernel = stripDevice(text[0] ?? '');
          e.args = text.slice(1).join(' ');
        } else if (INITRD.has(cmd) && e.initrd.length === 0) {
          e.initrd = text.map(stripDevice);
        } else if ((cmd === 'multiboot' || cmd === 'multiboot2') && e.kernel === null) {
          e.type = 'multiboot';
          e.kernel = stripDevice(text[0] ?? '');
          e.args = text.slice(1).join(' ');
        } else if (cmd === 'chainloader' && e.type === 'other') {
          e.type = 'chainloader';
        }
      }
    };
    visit(body);
    return e;
  };

  const menuArgs = (args: Word[], envHere: Env): { title: string; id: string | null } => {
    const vals = args.map((w) => expand(w, envHere));
    let title: string | null = null;
    let id: string | null = null;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v === '--id') {
        const next = vals[++i];
        id = typeof next === 'string' ? next : null;
      } else if (v === '--class' || v === '--users' || v === '--hotkey') i++;
      else if (typeof v === 'string' && v.startsWith('--')) continue;
      else if (title === null) title = v === UNKNOWN ? raw(args[i]!) : v ?? '';
    }
    return { title: title ?? '', id };
  };

  const run = (ss: Stmt[], nodes: Node[], path: string[], conditional: boolean, depth: number): void => {
    for (const s of ss) {
      if (s.kind === 'skipped') continue;
      if (s.kind === 'menu') {
        if (count >= MAX_ENTRIES) {
          warnings.push(`more than ${MAX_ENTRIES} menu entries; the rest ignored`);
          continue;
        }
        count++;
        const { title, id } = menuArgs(s.args, env);
        if (s.submenu) {
          const children: Node[] = [];
          // A submenu body runs in its own scope when chosen; its entries are what matter here.
          const saved = env;
          env = new Map(env);
          run(s.body, children, [...path, title], conditional, depth + 1);
          env = saved;
          nodes.push({ entry: null, title, id, children, conditional });
        } else {
          nodes.push({ entry: entryFrom(title, id, path, s.body, env, conditional), title, id, children: null, conditional });
        }
        continue;
      }
      if (s.kind === 'if') {
        // Run every branch that may be taken, up to the first one certainly taken (the else is);
        // variables that end up different across them become unknown.
        const before = env;
        const results: Env[] = [];
        let maybeEarlier = false;
        const arms: { cond: Cond; body: Stmt[] }[] = s.branches.map((b) => {
          const only = b.cond.length === 1 ? b.cond[0] : undefined;
          const c: Cond = only?.kind === 'cmd' ? evalTest(only.words.map((w) => expand(w, before)), input.grubenv !== null, siblings) : UNKNOWN;
          return { cond: c, body: b.body };
        });
        arms.push({ cond: true, body: s.otherwise ?? [] });
        for (const arm of arms) {
          if (arm.cond === false) continue;
          env = new Map(before);
          run(arm.body, nodes, path, conditional || maybeEarlier || arm.cond === UNKNOWN, depth);
          results.push(env);
          if (arm.cond === true) break;
          maybeEarlier = true;
        }
        env = results.reduce(merge);
        continue;
      }
      const cmd = raw(s.words[0]!);
      const args = s.words.slice(1);
      if (cmd === 'set' || (/^[A-Za-z_][A-Za-z0-9_]*=/.test(cmd) && s.words.length === 1)) {
        const assign = cmd === 'set' ? args[0] : s.words[0];
        if (assign === undefined) continue;
        const text = raw(assign);
        const eq = text.indexOf('=');
        if (eq <= 0) continue;
        const name = text.slice(0, eq);
        // Expand the value part only: rebuild the word without the NAME= prefix.
        const value = expand(dropPrefix(assign, eq + 1), env);
        env.set(name, value);
      } else if (cmd === 'unset') {
        for (const w of args) env.delete(raw(w));
      } else if (cmd === 'load_env') {
        const names = args.map((w) => expand(w, env));
        const f = names.findIndex((n) => n === '-f' || n === '--file');
        // `load_env -f ${config_directory}/grubenv` (RHEL) reads the same grubenv on BIOS boots.
        const file = f >= 0 ? names[f + 1] : undefined;
        if (f >= 0 && !(typeof file === 'string' && file.endsWith('/grubenv'))) {
          warnings.push(`${input.file}:${s.line}: load_env from another file is not followed`);
          continue;
        }
        const wanted = names.filter((n, i): n is string => typeof n === 'string' && !n.startsWith('-') && (f < 0 || i !== f + 1));
        for (const [k, v] of input.grubenv ?? []) if (wanted.length === 0 || wanted.includes(k)) env.set(k, v);
      } else if (cmd === 'blscfg') {
        for (const e of input.bls ?? []) {
          if (count >= MAX_ENTRIES) break;
          count++;
          const entry: BootEntry = { title: e.title, id: e.id, submenu: path, type: e.type, kernel: e.kernel, initrd: e.initrd, args: e.args, conditional: e.conditional || conditional };
          nodes.push({ entry, title: e.title, id: e.id, children: null, conditional });
        }
        if ((input.bls ?? []).length === 0) warnings.push(`${input.file}:${s.line}: blscfg found no BLS entries`);
      } else if (cmd === 'source' && args.length === 1) {
        // A file beside grub.cfg that we were given is read in place (custom.cfg); others are not.
        const target = expand(args[0]!, env);
        const base = typeof target === 'string' ? target.slice(target.lastIndexOf('/') + 1) : null;
        if (base === null || !siblings.has(base) || sourceDepth >= MAX_SOURCE_DEPTH) sourced = true;
        else {
          const text = siblings.get(base)!;
          if (text !== null) {
            sourceDepth++;
            run(parseScript(text, base), nodes, path, conditional, depth + 1);
            sourceDepth--;
          }
        }
      } else if (cmd === 'source' || cmd === 'configfile' || cmd === 'extract_entries_source') {
        sourced = true;
      }
    }
  };

  const top: Node[] = [];
  run(stmts, top, [], false, 0);
  if (sourced) warnings.push('the config sources other files; entries they add are not listed');

  const entries: BootEntry[] = [];
  const index = new Map<Node, number>();
  const flatten = (ns: Node[]) => {
    for (const n of ns) {
      if (n.entry !== null) {
        index.set(n, entries.length);
        entries.push(n.entry);
      } else if (n.children) flatten(n.children);
    }
  };
  flatten(top);

  const dflt = env.get('default');
  return { loader: 'grub2', file: input.file, entries, default: chooseDefault(top, index, dflt, input.grubenv, sourced), warnings };
}

function dropPrefix(w: Word, n: number): Word {
  const out: Word = [];
  let skip = n;
  for (const p of w) {
    if (skip >= p.text.length) {
      skip -= p.text.length;
      continue;
    }
    out.push({ text: p.text.slice(skip), literal: p.literal });
    skip = 0;
  }
  return out;
}

function stripDevice(p: string): string {
  return p.replace(/^\([^)]*\)/, '');
}

/** Splits `a>b>c` into components; `>>` is a literal `>` (menu.c menuentry_eq). */
function splitPath(v: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '>') {
      if (v[i + 1] === '>') {
        cur += '>';
        i++;
        continue;
      }
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += v[i];
  }
  parts.push(cur);
  return parts;
}

function chooseDefault(top: Node[], index: Map<Node, number>, dflt: Value | undefined, grubenv: Map<string, string> | null, sourced: boolean): DefaultChoice {
  const firstLeaf = (ns: Node[]): Node | null => {
    for (const n of ns) {
      if (n.entry !== null) return n;
      const c = firstLeaf(n.children ?? []);
      if (c !== null) return c;
    }
    return null;
  };
  if (top.length === 0) return { decided: false, reason: 'the config has no menu entries' };
  if (dflt === UNKNOWN) {
    return { decided: false, reason: 'the default entry depends on a condition or variable that is only known at boot time' };
  }
  const spec = dflt ?? '';
  const how = dflt === undefined ? 'no default set' : `default="${spec}"${grubenv?.has('saved_entry') && spec === grubenv.get('saved_entry') ? ' (saved_entry in grubenv)' : ''}`;
  let menu = top;
  const comps = spec === '' ? [''] : splitPath(spec);
  let chosen: Node | null = null;
  const trail: string[] = [];
  for (let k = 0; k < comps.length; k++) {
    const c = comps[k]!;
    // Entries hidden behind an unknown condition make an index or a fallback to 0 uncertain.
    let i: number;
    const numeric = /^[0-9]+$/.test(c);
    if (numeric) i = Number(c);
    else i = menu.findIndex((n) => n.title === c || (n.id !== null && n.id === c));
    if (i < 0 && sourced && c !== '') {
      return { decided: false, reason: `${how}: "${c}" matches no entry here and may name one in a file the config sources` };
    }
    if (i < 0 || i >= menu.length) {
      trail.push(c === '' ? 'entry 0' : `"${c}" matches no entry, so entry 0`);
      i = 0;
    }
    // An index shifts when an entry before it may be missing; a name match only depends on the
    // entry it matched (no earlier entry has that name).
    if (numeric ? menu.slice(0, i + 1).some((n) => n.conditional) : menu[i]!.conditional) {
      return { decided: false, reason: `${how}: ${numeric ? 'an entry before it' : 'the entry'} appears only under a condition known at boot time` };
    }
    const n = menu[i]!;
    if (n.children === null) {
      chosen = n;
      if (k < comps.length - 1) trail.push(`"${n.title}" is not a submenu; the rest of the path is ignored`);
      break;
    }
    trail.push(`submenu "${n.title}"`);
    menu = n.children;
    if (k === comps.length - 1) {
      // Entering a submenu with no further path boots its first entry (menu.c: default unset → 0).
      chosen = firstLeaf(menu);
    }
  }
  if (chosen === null) return { decided: false, reason: `${how}: the chosen submenu is empty` };
  const idx = index.get(chosen)!;
  return { decided: true, index: idx, reason: `${how}: ${[...trail, `"${chosen.title}"`].join(' → ')}` };
}
