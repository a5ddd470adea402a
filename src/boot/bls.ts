/**
 * Boot Loader Specification entries (/boot/loader/entries/*.conf, Fedora 30+, RHEL 8+), as GRUB's
 * `blscfg` command reads them: one `key value` per line; `linux`, `initrd` (repeatable),
 * `options` (where `$kernelopts` comes from grubenv on RHEL 8), `title`, `version`. The entry id
 * (what saved_entry names) is the file name without `.conf`. Entries are listed newest first.
 */
import { type BootEntry, MAX_CONFIG_BYTES, MAX_ENTRIES } from './types.ts';

/**
 * Parses one BLS entry file.
 * @example
 * parseBlsEntry('abc-5.14.0-362.el9.x86_64', 'title RHEL\nversion 5.14.0\nlinux /vmlinuz-5.14.0\noptions $kernelopts', new Map([['kernelopts', 'root=/dev/xvda2 ro']]))
 * // => { title: 'RHEL', id: 'abc-5.14.0-362.el9.x86_64', kernel: '/vmlinuz-5.14.0', args: 'root=/dev/xvda2 ro', ... }
 */
export function parseBlsEntry(id: string, text: string, grubenv: Map<string, string> | null): BootEntry & { version: string | null; warnings: string[] } {
  const warnings: string[] = [];
  const e: BootEntry & { version: string | null; warnings: string[] } = {
    title: id,
    id,
    submenu: [],
    type: 'other',
    kernel: null,
    initrd: [],
    args: null,
    conditional: false,
    version: null,
    warnings,
  };
  if (text.length > MAX_CONFIG_BYTES) {
    warnings.push(`${id}.conf: too large; ignored`);
    return e;
  }
  const options: string[] = [];
  for (const line of text.split('\n').slice(0, 10_000)) {
    const m = /^\s*([a-z_]+)\s+(.*?)\s*$/.exec(line);
    if (m === null || line.trimStart().startsWith('#')) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'title') e.title = value;
    else if (key === 'version') e.version = value;
    else if (key === 'linux') {
      e.kernel = value;
      e.type = 'linux';
    } else if (key === 'initrd') e.initrd.push(...value.split(/\s+/));
    else if (key === 'options') options.push(value);
  }
  if (options.length > 0) {
    e.args = options
      .join(' ')
      .replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => {
        const v = grubenv?.get(name);
        if (v === undefined) {
          warnings.push(`${id}.conf: $${name} is not set in grubenv`);
          return '';
        }
        return v;
      })
      .trim();
  }
  return e;
}

/**
 * Orders BLS entries as blscfg lists them: highest version first (rpm-style, numbers compared as
 * numbers), then by id; capped at MAX_ENTRIES.
 * @example
 * orderBls([{ version: '5.14.0-70', ... }, { version: '5.14.0-362', ... }]) // => [5.14.0-362, 5.14.0-70]
 */
export function orderBls<T extends { version: string | null; id: string | null }>(entries: T[]): T[] {
  const key = (e: T) => e.version ?? e.id ?? '';
  return [...entries]
    .sort((a, b) => key(b).localeCompare(key(a), 'en', { numeric: true }) || (b.id ?? '').localeCompare(a.id ?? '', 'en', { numeric: true }))
    .slice(0, MAX_ENTRIES);
}
