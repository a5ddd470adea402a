/**
 * GRUB legacy (0.97) menu.lst / grub.conf: `default N` or `default saved` (the number in
 * /boot/grub/default), `title` starting each entry, `kernel` and `initrd` inside it. Still found
 * on old Debian, CentOS 5/6 and many PV guests (pygrub reads it). Reference: GRUB 0.97
 * stage2/cmdline.c and builtins.c.
 */
import { type BootEntry, type BootMenu, BootConfigError, MAX_CONFIG_BYTES, MAX_ENTRIES } from './types.ts';

/**
 * Parses menu.lst text. `savedDefault` is the content of /boot/grub/default, or null when absent.
 * @example
 * parseGrubLegacy({ file: '/boot/grub/menu.lst', text: 'default 1\ntitle A\nkernel /a\ntitle B\nkernel /b root=/dev/xvda1\n', savedDefault: null })
 * // => { loader: 'grub-legacy', entries: [A, B], default: { decided: true, index: 1, ... } }
 */
export function parseGrubLegacy(input: { file: string; text: string; savedDefault: string | null }): BootMenu {
  if (input.text.length > MAX_CONFIG_BYTES) throw new BootConfigError(`${input.file}: over the ${MAX_CONFIG_BYTES}-byte limit`);
  const entries: BootEntry[] = [];
  const warnings: string[] = [];
  let dflt: string | null = null;
  let cur: BootEntry | null = null;
  for (const rawLine of input.text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    // Keywords and arguments are separated by spaces or '='.
    const m = /^([A-Za-z_]+)(?:\s*=\s*|\s+|$)(.*)$/.exec(line);
    if (m === null) continue;
    const key = m[1]!.toLowerCase();
    const rest = m[2]!.trim();
    if (key === 'title') {
      if (entries.length >= MAX_ENTRIES) {
        warnings.push(`more than ${MAX_ENTRIES} entries; the rest ignored`);
        break;
      }
      cur = { title: rest, id: null, submenu: [], type: 'other', kernel: null, initrd: [], args: null, conditional: false };
      entries.push(cur);
    } else if (cur === null) {
      if (key === 'default') dflt = rest;
    } else if (key === 'kernel') {
      const [k, ...args] = rest.split(/\s+/);
      cur.type = 'linux';
      cur.kernel = (k ?? '').replace(/^\([^)]*\)/, '');
      cur.args = args.join(' ');
    } else if (key === 'initrd') {
      cur.initrd = [rest.split(/\s+/)[0]!.replace(/^\([^)]*\)/, '')];
    } else if (key === 'chainloader' && cur.type === 'other') cur.type = 'chainloader';
  }
  let choice: BootMenu['default'];
  if (entries.length === 0) choice = { decided: false, reason: 'the config has no title entries' };
  else {
    let how: string;
    let n: number;
    if (dflt === null) {
      how = 'no default line';
      n = 0;
    } else if (dflt === 'saved') {
      const saved = input.savedDefault === null ? null : /^\s*(\d+)/.exec(input.savedDefault);
      how = saved ? `default saved: /boot/grub/default says ${saved[1]}` : 'default saved, with no number in /boot/grub/default';
      n = saved ? Number(saved[1]) : 0;
    } else if (/^\d+$/.test(dflt)) {
      how = `default ${dflt}`;
      n = Number(dflt);
    } else {
      how = `default "${dflt}" is not a number`;
      n = 0;
    }
    if (n >= entries.length) {
      how += ', past the last entry, so entry 0';
      n = 0;
    }
    choice = { decided: true, index: n, reason: `${how}: "${entries[n]!.title}"` };
  }
  return { loader: 'grub-legacy', file: input.file, entries, default: choice, warnings };
}
