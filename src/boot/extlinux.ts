/**
 * extlinux.conf / syslinux.cfg: `DEFAULT`, `UI`, `LABEL` starting each entry, the kernel keywords
 * (`KERNEL`, `LINUX`, `COM32`, ...), `APPEND`, `INITRD`, `MENU LABEL`, `MENU DEFAULT`,
 * `MENU HIDE`, `MENU SEPARATOR`, `MENU DISABLE`, `MENU BEGIN`/`MENU END`; keywords are case-insensitive.
 *
 * Which entry boots without a key press (syslinux 6, com32/elflink/ldlinux/readconfig.c and the
 * menu module's com32/menu/readconfig.c; doc/syslinux.txt, doc/menu.txt):
 * - `UI menu.c32` starts the menu module: `DEFAULT label` picks the entry (the menu's
 *   `has_ui && globaldefault`), else the last `MENU DEFAULT`, else the first entry.
 * - Without UI, `DEFAULT label` boots that label. A `DEFAULT` naming no label is a command line:
 *   a file ending in `.c32` is a COM32 module, so `DEFAULT menu.c32` (the old way, and what
 *   Alpine's update-extlinux writes) starts the menu module, which then ignores DEFAULT
 *   (`has_ui` is 0) and boots the `MENU DEFAULT` entry, else the first one. Any other
 *   `DEFAULT path args` boots that file with those arguments.
 */
import { type BootEntry, type BootMenu, BootConfigError, MAX_CONFIG_BYTES, MAX_ENTRIES } from './types.ts';

/**
 * Where syslinux finds its config, as paths from the root of the filesystem holding it, in
 * search order: pygrub's list (tools/pygrub/src/pygrub), then the fallbacks of syslinux's
 * generic_load_config() (core/fs/lib/loadconfig.c: extlinux.conf then syslinux.cfg in the install
 * directory, /boot/syslinux, /syslinux, /). The install directory is where `extlinux --install`
 * put ldlinux.sys: /boot/extlinux, /boot (Alpine), /extlinux on a separate /boot filesystem.
 */
export const EXTLINUX_CONFIGS = [
  '/boot/isolinux/isolinux.cfg',
  '/boot/extlinux/extlinux.conf',
  '/boot/extlinux.conf',
  '/extlinux/extlinux.conf',
  '/extlinux.conf',
  '/boot/extlinux/syslinux.cfg',
  '/boot/syslinux.cfg',
  '/extlinux/syslinux.cfg',
  '/boot/syslinux/extlinux.conf',
  '/boot/syslinux/syslinux.cfg',
  '/syslinux/extlinux.conf',
  '/syslinux/syslinux.cfg',
  '/syslinux.cfg',
] as const;

// syslinux's my_isspace() is any byte up to ' ': Unicode spaces (U+00A0, U+2028, ...) are part of words.
const SPACES = /[\x00-\x20]+/;
/** A keyword and the rest of the line (`s`: a line separator is just a character to syslinux). */
const WORD_REST = /^([^\x00-\x20]+)[\x00-\x20]*(.*)$/s;
const trim = (t: string) => t.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
/** looking_at() ignores case in ASCII only: U+212A (Kelvin) is not a `k`. */
const asciiLower = (t: string) => t.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** MENU BEGIN nesting accepted (real menus nest one or two deep). */
const MAX_SUBMENU_DEPTH = 16;

/** The simple menu modules (com32/menu): the only UI modules whose default choice is known. */
const MENU_MODULES = new Set(['menu.c32', 'vesamenu.c32']);

/** One LABEL as syslinux records it, before it becomes a BootEntry. */
type Label = {
  entry: BootEntry;
  /** `MENU DEFAULT` inside this label. */
  menuDefault: boolean;
  /** `MENU HIDE`: bootable by name, not shown in the menu (it goes to the menu's hidden list). */
  hidden: boolean;
  /** `MENU DISABLE`: shown, never run from the menu. */
  disabled: boolean;
  /** Inside a `MENU BEGIN` ... `MENU END` submenu: its MENU DEFAULT is that submenu's, not the top menu's. */
  nested: boolean;
};

/** What a kernel keyword (or a KERNEL file's extension) makes of an entry: syslinux.txt's table. */
function kernelType(keyword: string, file: string): BootEntry['type'] {
  const base = file.slice(file.lastIndexOf('/') + 1).toLowerCase();
  switch (keyword) {
    case 'linux':
      return 'linux';
    case 'boot':
    case 'bss':
    case 'localboot':
      return 'chainloader';
    case 'com32':
      return base === 'mboot.c32' ? 'multiboot' : 'other';
    case 'kernel': {
      // KERNEL decides by the file name's extension; none (or an unknown one) is a Linux kernel.
      const ext = /\.([^./]*)$/.exec(base)?.[1] ?? '';
      if (ext === 'c32') return base === 'mboot.c32' ? 'multiboot' : 'other';
      if (ext === 'bin' || ext === 'bs' || ext === 'bss') return 'chainloader';
      if (ext === '0' || ext === 'cbt' || ext === 'com' || ext === 'img') return 'other';
      return 'linux';
    }
    default:
      return 'other'; // pxe, fdimage, comboot, config
  }
}

const KERNEL_KEYWORDS = new Set(['kernel', 'linux', 'boot', 'bss', 'pxe', 'fdimage', 'comboot', 'com32', 'config', 'localboot']);

/** mboot.c32's APPEND is `xen.gz XEN-ARGS --- vmlinuz ARGS --- initrd`: the multiboot kernel is its first word. */
function multibootFromAppend(e: BootEntry): void {
  const words = (e.args ?? '').split(SPACES).filter((w) => w !== '');
  e.kernel = words[0] ?? null;
  e.args = words.slice(1).join(' ');
}

/**
 * Parses extlinux.conf text into a boot menu.
 * @example
 * parseExtlinux({ file: '/boot/extlinux.conf', text: 'DEFAULT menu.c32\nLABEL virt\n  MENU DEFAULT\n  LINUX vmlinuz-virt\n  APPEND root=/dev/xvda1' })
 * // => { loader: 'extlinux', entries: [{ title: 'virt', kernel: 'vmlinuz-virt', args: 'root=/dev/xvda1', ... }], default: { decided: true, index: 0, ... } }
 */
export function parseExtlinux(input: { file: string; text: string }): BootMenu {
  if (input.text.length > MAX_CONFIG_BYTES) throw new BootConfigError(`${input.file}: over the ${MAX_CONFIG_BYTES}-byte limit`);
  const labels: Label[] = [];
  const warnings: string[] = [];
  let dflt: string | null = null;
  let ui: string | null = null;
  let cur: Label | null = null;
  // Titles of the open MENU BEGIN submenus, and whether the top menu's first item is a submenu.
  const submenus: string[] = [];
  let firstTopItem: 'label' | 'submenu' | null = null;
  for (const rawLine of input.text.split('\n')) {
    // syslinux ends a line at its first CR (readconfig.c's strchr(line, '\r')).
    const line = trim(rawLine.replace(/\r.*$/s, ''));
    if (line === '' || line.startsWith('#')) continue;
    const m = WORD_REST.exec(line)!;
    let key = asciiLower(m[1]!);
    let rest = trim(m[2]!);
    if (key === 'menu') {
      const sub = WORD_REST.exec(rest);
      key = `menu ${asciiLower(sub?.[1] ?? '')}`;
      rest = trim(sub?.[2] ?? '');
    }
    if (key === 'default') dflt = rest;
    // UI takes its module (and the module's arguments); the module is what decides.
    else if (key === 'ui') ui = rest.split(SPACES)[0] ?? '';
    else if (key === 'include' || key === 'menu include') warnings.push(`INCLUDE ${rest} is not followed`);
    // A separator ends the label before it (the menu's record()); it is no entry to boot.
    else if (key === 'menu separator') cur = null;
    else if (key === 'menu begin') {
      if (submenus.length === 0) firstTopItem ??= 'submenu';
      if (submenus.length >= MAX_SUBMENU_DEPTH) throw new BootConfigError(`${input.file}: MENU BEGIN nested more than ${MAX_SUBMENU_DEPTH} deep`);
      submenus.push(rest);
      cur = null;
    } else if (key === 'menu end') {
      submenus.pop();
      cur = null;
    } else if (key === 'label') {
      if (labels.length >= MAX_ENTRIES) {
        warnings.push(`more than ${MAX_ENTRIES} labels; the rest ignored`);
        break;
      }
      // A LABEL alone runs the file of its own name (syslinux: ld.kernel = label, type KERNEL).
      cur = {
        entry: { title: rest, id: rest, submenu: [...submenus], type: kernelType('kernel', rest), kernel: rest, initrd: [], args: null, conditional: false },
        menuDefault: false,
        hidden: false,
        disabled: false,
        nested: submenus.length > 0,
      };
      if (submenus.length === 0) firstTopItem ??= 'label';
      labels.push(cur);
    } else if (cur !== null) {
      if (KERNEL_KEYWORDS.has(key)) {
        cur.entry.kernel = key === 'localboot' ? null : rest;
        cur.entry.type = kernelType(key, rest);
      } else if (key === 'append') {
        // initrd= on the APPEND line is how older configs pass the initrd.
        const parts = rest.split(SPACES);
        const ird = parts.filter((p) => p.startsWith('initrd='));
        for (const p of ird) cur.entry.initrd.push(...p.slice('initrd='.length).split(','));
        cur.entry.args = parts.filter((p) => !p.startsWith('initrd=')).join(' ');
      } else if (key === 'initrd') cur.entry.initrd.push(...rest.split(','));
      else if (key === 'menu label') cur.entry.title = rest;
      else if (key === 'menu default') cur.menuDefault = true;
      else if (key === 'menu hide') cur.hidden = true;
      else if (key === 'menu disable' || key === 'menu disabled') cur.disabled = true;
    }
  }
  for (const l of labels) if (l.entry.type === 'multiboot') multibootFromAppend(l.entry);

  const entries = labels.map((l) => l.entry);
  const choice = chooseDefault(labels, entries, dflt, ui, firstTopItem === 'submenu');
  return { loader: 'extlinux', file: input.file, entries, default: choice, warnings };
}

/** The entry syslinux boots without a key press (the rules in this module's comment). */
function chooseDefault(labels: Label[], entries: BootEntry[], dflt: string | null, ui: string | null, startsWithSubmenu: boolean): BootMenu['default'] {
  const byLabel = (name: string) => labels.findIndex((l) => l.entry.id === name);
  const menuChoice = (withDefault: boolean, how: string): BootMenu['default'] => {
    if (withDefault && dflt !== null) {
      // The menu's find_label(globaldefault): the whole DEFAULT text names a label not hidden.
      const i = byLabel(dflt);
      if (i >= 0 && !labels[i]!.hidden && !labels[i]!.disabled) return { decided: true, index: i, reason: `${how}; DEFAULT ${dflt} picks the entry` };
    }
    // record(): the last runnable MENU DEFAULT of the top menu; otherwise the menu starts at its first entry.
    let marked = -1;
    labels.forEach((l, i) => {
      if (l.menuDefault && !l.disabled && !l.hidden && !l.nested) marked = i;
    });
    if (marked >= 0) return { decided: true, index: marked, reason: `${how}; MENU DEFAULT marks "${entries[marked]!.title}"` };
    if (startsWithSubmenu) return { decided: false, reason: `${how}, but its first entry opens a submenu and no MENU DEFAULT is set` };
    const first = labels.findIndex((l) => !l.hidden && !l.nested);
    if (first < 0) return { decided: false, reason: `${how}, but the config has no menu entries` };
    if (labels[first]!.disabled) return { decided: false, reason: `${how}, but its first entry is disabled and no MENU DEFAULT is set` };
    return { decided: true, index: first, reason: `${how}; no MENU DEFAULT: the first entry "${entries[first]!.title}"` };
  };
  const moduleName = (cmd: string) => (cmd.split(SPACES)[0] ?? '').replace(/^.*\//, '').toLowerCase();

  if (ui !== null) {
    if (MENU_MODULES.has(moduleName(ui))) return menuChoice(true, `UI ${ui} starts the menu`);
    return { decided: false, reason: `UI ${ui} is not syslinux's menu module; which entry it boots is not known` };
  }
  if (dflt !== null) {
    // ldlinux's unlabel(): the first word names the label, the rest is added to its command line.
    const i = byLabel(dflt.split(SPACES)[0] ?? '');
    if (i >= 0) return { decided: true, index: i, reason: `DEFAULT ${dflt}` };
    const name = moduleName(dflt);
    // DEFAULT names no label: a command line. A .c32 file is a COM32 module (syslinux.txt).
    if (MENU_MODULES.has(name)) return menuChoice(false, `DEFAULT ${dflt} starts the menu module (which ignores DEFAULT without a UI line)`);
    const [k, ...args] = dflt.split(SPACES);
    const type = kernelType('kernel', k ?? '');
    entries.push({ title: `DEFAULT ${dflt}`, id: null, submenu: [], type, kernel: k ?? '', initrd: [], args: args.join(' '), conditional: false });
    if (type === 'multiboot') multibootFromAppend(entries[entries.length - 1]!);
    return { decided: true, index: entries.length - 1, reason: `DEFAULT "${dflt}" names no LABEL, so it is the command line run` };
  }
  const first = labels.findIndex((l) => !l.disabled);
  if (first >= 0) return { decided: true, index: first, reason: `no DEFAULT: the first LABEL "${entries[first]!.title}"` };
  return { decided: false, reason: 'the config has no LABEL entries' };
}
