/**
 * Pure parsers for what dom0's storage tools print, for rehearsals: `lvs` (an LV and its volume
 * group's free extents), `stat -L -c %F:%s`, `dmsetup targets`, and `xl info`'s free_memory.
 * Bounded like parse.ts: long output is refused, every number checked before use.
 */
import { DriverError, type DiskBacking, type HostPath } from '../driver.ts';

/** `lvs` prints one short line per LV; anything longer than this is not what was asked for. */
const MAX_TEXT = 64 * 1024;
// LVM's own name rule (lvm(8) "VALID NAMES").
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;

const num = (s: string | undefined, what: string): number => {
  const n = s !== undefined && /^\d{1,19}$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) throw new DriverError('failed', `${what}: not a number: ${JSON.stringify((s ?? '').slice(0, 40))}`);
  return n;
};

/** The argv whose output parseLvs reads. */
export const LVS_FIELDS = 'vg_name,lv_name,lv_size,vg_extent_size,vg_free_count,origin,lv_attr';

/**
 * Parses `lvs --noheadings --nosuffix --units b --separator : -o LVS_FIELDS PATH`.
 * @example
 * parseLvs('  vg0:web1:10737418240:4194304:2560::-wi-ao----\n', '/dev/vg0/web1')
 * // => { kind: 'lv', vg: 'vg0', lv: 'web1', sizeBytes: 10737418240, extentBytes: 4194304, vgFreeExtents: 2560, origin: null, invalid: false, ... }
 */
export function parseLvs(text: string, path: HostPath): DiskBacking {
  if (text.length > MAX_TEXT) throw new DriverError('failed', 'lvs: output too long');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length !== 1) throw new DriverError('failed', `lvs ${path}: ${lines.length} lines, expected 1`);
  const f = lines[0]!.split(':');
  if (f.length !== 7) throw new DriverError('failed', `lvs ${path}: ${f.length} fields, expected 7`);
  const [vg, lv, size, extent, free, origin, attr] = f as [string, string, string, string, string, string, string];
  if (!/^[-a-zA-Z]{10}$/.test(attr)) throw new DriverError('failed', `lvs ${path}: lv_attr ${JSON.stringify(attr.slice(0, 20))}`);
  if (!LVM_NAME.test(vg) || !LVM_NAME.test(lv) || (origin !== '' && !LVM_NAME.test(origin))) throw new DriverError('failed', `lvs ${path}: not an LVM name`);
  return {
    kind: 'lv', path, vg, lv,
    sizeBytes: num(size, 'lv_size'),
    extentBytes: num(extent, 'vg_extent_size'),
    vgFreeExtents: num(free, 'vg_free_count'),
    origin: origin === '' ? null : origin,
    // lv_attr's 5th character is the state; I or S: a snapshot whose CoW area overflowed (lvs(8)).
    invalid: attr[4] === 'I' || attr[4] === 'S',
  };
}

/**
 * Parses `stat -L -c %F:%s PATH` for a disk that is not an LV.
 * @example
 * parseStat('regular file:2147483648\n', '/srv/web1.img') // => { kind: 'file', path: '/srv/web1.img', sizeBytes: 2147483648 }
 * parseStat('block special file:0\n', '/dev/sdb1') // => { kind: 'other', path: '/dev/sdb1', what: 'a block device that is not an LVM logical volume' }
 */
export function parseStat(text: string, path: HostPath): DiskBacking {
  const m = /^([a-z ]{1,40}):(\d{1,19})\n?$/.exec(text.slice(0, 200));
  if (m === null) throw new DriverError('failed', `stat ${path}: unexpected output`);
  if (m[1] === 'regular file' || m[1] === 'regular empty file') return { kind: 'file', path, sizeBytes: num(m[2], 'st_size') };
  if (m[1] === 'block special file') return { kind: 'other', path, what: 'a block device that is not an LVM logical volume' };
  return { kind: 'other', path, what: `a ${m[1]}, not a disk image or logical volume` };
}

/**
 * Parses `dmsetup targets` (`NAME vX.Y.Z` lines) into the target names.
 * @example
 * parseDmTargets('snapshot-merge   v1.5.0\nsnapshot         v1.16.0\nlinear           v1.4.0\n') // => ['snapshot-merge', 'snapshot', 'linear']
 */
export function parseDmTargets(text: string): string[] {
  if (text.length > MAX_TEXT) throw new DriverError('failed', 'dmsetup targets: output too long');
  return text.split('\n').map((l) => /^([a-z][a-z0-9_-]{0,63})\s+v[\d.]+\s*$/.exec(l.trim())?.[1]).filter((n): n is string => n !== undefined);
}

/**
 * The `free_memory` line of `xl info`, in MiB.
 * @example
 * parseFreeMemory('host : xen1\nfree_memory            : 3071\n') // => 3071
 */
export function parseFreeMemory(text: string): number {
  const m = /^free_memory\s*:\s*(\d{1,12})\s*$/m.exec(text.slice(0, 1024 * 1024));
  if (m === null) throw new DriverError('failed', 'xl info: no free_memory line');
  return Number(m[1]);
}
