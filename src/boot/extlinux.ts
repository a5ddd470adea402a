/**
 * extlinux.conf / syslinux.cfg: `DEFAULT label`, `LABEL` starting each entry, `KERNEL`/`LINUX`,
 * `APPEND`, `INITRD`, `MENU LABEL`, `MENU DEFAULT`; keywords are case-insensitive. A DEFAULT that
 * names no label is itself a kernel command line. Reference: syslinux doc/syslinux.txt.
 */
import { type BootEntry, type BootMenu, BootConfigError, MAX_CONFIG_BYTES, MAX_ENTRIES } from './types.ts';

/**
 * Parses extlinux.conf text into a boot menu.
 * @example
 * parseExtlinux({ file: '/boot/extlinux/extlinux.conf', text: 'DEFAULT linux\nLABEL linux\n  KERNEL /vmlinuz\n  APPEND root=/dev/xvda1' })
 * // => { loader: 'extlinux', entries: [{ title: 'linux', kernel: '/vmlinuz', args: 'root=/dev/xvda1', ... }], default: { decided: true, index: 0 } }
 */
export function parseExtlinux(input: { file: string; text: string }): BootMenu {
  if (input.text.length > MAX_CONFIG_BYTES) throw new BootConfigError(`${input.file}: over the ${MAX_CONFIG_BYTES}-byte limit`);
  const entries: BootEntry[] = [];
  const warnings: string[] = [];
  let dflt: string | null = null;
  let ui = false;
  let menuDefault = -1;
  let cur: BootEntry | null = null;
  for (const rawLine of input.text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    let key = m[1]!.toLowerCase();
    let rest = m[2]!.trim();
    if (key === 'menu') {
      const sub = /^(\S+)\s*(.*)$/.exec(rest);
      key = `menu ${sub?.[1]?.toLowerCase() ?? ''}`;
      rest = sub?.[2]?.trim() ?? '';
    }
    if (key === 'default') dflt = rest;
    else if (key === 'ui') ui = true;
    else if (key === 'include') warnings.push(`INCLUDE ${rest} is not followed`);
    else if (key === 'label') {
      if (entries.length >= MAX_ENTRIES) {
        warnings.push(`more than ${MAX_ENTRIES} labels; the rest ignored`);
        break;
      }
      cur = { title: rest, id: rest, submenu: [], type: 'other', kernel: null, initrd: [], args: null, conditional: false };
      entries.push(cur);
    } else if (cur !== null) {
      if (key === 'kernel' || key === 'linux') {
        cur.kernel = rest;
        cur.type = 'linux';
      } else if (key === 'append') {
        // initrd= on the APPEND line is how older configs pass the initrd.
        const parts = rest.split(/\s+/);
        const ird = parts.filter((p) => p.startsWith('initrd='));
        for (const p of ird) cur.initrd.push(...p.slice('initrd='.length).split(','));
        cur.args = parts.filter((p) => !p.startsWith('initrd=')).join(' ');
      } else if (key === 'initrd') cur.initrd.push(...rest.split(','));
      else if (key === 'menu label') cur.title = rest;
      else if (key === 'menu default') menuDefault = entries.length - 1;
    }
  }
  let choice: BootMenu['default'];
  if (ui && menuDefault >= 0) {
    choice = { decided: true, index: menuDefault, reason: `MENU DEFAULT in the menu UI: "${entries[menuDefault]!.title}"` };
  } else if (dflt !== null) {
    const i = entries.findIndex((e) => e.id === dflt);
    if (i >= 0) choice = { decided: true, index: i, reason: `DEFAULT ${dflt}` };
    else {
      // DEFAULT names no label: it is a kernel and its command line.
      const [k, ...args] = dflt.split(/\s+/);
      entries.push({ title: `DEFAULT ${dflt}`, id: null, submenu: [], type: 'linux', kernel: k ?? '', initrd: [], args: args.join(' '), conditional: false });
      choice = { decided: true, index: entries.length - 1, reason: `DEFAULT "${dflt}" names no LABEL, so it is the kernel command line` };
    }
  } else if (entries.length > 0) choice = { decided: true, index: 0, reason: `no DEFAULT: the first LABEL "${entries[0]!.title}"` };
  else choice = { decided: false, reason: 'the config has no LABEL entries' };
  return { loader: 'extlinux', file: input.file, entries, default: choice, warnings };
}
