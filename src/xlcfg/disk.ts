/**
 * xl's disk specification (docs/misc/xl-disk-configuration.txt, parsed by libxlutil's
 * libxlu_disk_l.l): comma-separated `key=value` pairs, flags and positional parameters
 * (target, format, vdev, access), deprecated `phy:`/`raw:`/… prefixes, and `target=` last,
 * eating the rest of the string.
 */

export type DiskFormat = 'raw' | 'qcow' | 'qcow2' | 'vhd' | 'qed' | 'empty';

export type XlDisk = {
  /** The block device or image path (`null` for an empty cdrom drive). */
  target: string | null;
  format: DiskFormat;
  vdev: string;
  access: 'rw' | 'ro';
  cdrom: boolean;
  backend: string | null;
  backendtype: string | null;
  script: string | null;
  /** Flags and settings pvhctl does not interpret, kept as written (`direct-io-safe`, `discard`, ...). */
  other: string[];
  /** True when a deprecated prefix (`phy:`, `file:`, `raw:`, `tap:aio:`, ...) was used. */
  deprecatedPrefix: boolean;
};

export type DiskResult = { ok: true; disk: XlDisk } | { ok: false; error: string };

const FORMATS: Record<string, DiskFormat> = { '': 'raw', raw: 'raw', qcow: 'qcow', qcow2: 'qcow2', vhd: 'vhd', empty: 'empty', qed: 'qed' };
const FLAGS = ['direct-io-safe', 'discard', 'no-discard', 'colo', 'no-colo', 'trusted', 'untrusted', 'grant_usage=1', 'grant_usage=0'];
const STRING_KEYS = ['backend', 'script', 'colo-host', 'colo-port', 'colo-export', 'active-disk', 'hidden-disk'];

/**
 * Parses one disk spec as xl does.
 * @example
 * parseDiskSpec('phy:/dev/vg0/web1,xvda,w')
 * // => { ok: true, disk: { target: '/dev/vg0/web1', format: 'raw', vdev: 'xvda', access: 'rw', cdrom: false, deprecatedPrefix: true, ... } }
 * parseDiskSpec('format=qcow2, vdev=xvdb, target=/srv/a,b.qcow2').disk.target // => '/srv/a,b.qcow2'
 */
export function parseDiskSpec(spec: string): DiskResult {
  if (spec.length > 4096) return { ok: false, error: 'disk spec longer than 4096 characters' };
  let target: string | null = null;
  let format: DiskFormat | null = null;
  let vdev: string | null = null;
  let access: 'rw' | 'ro' | null = null;
  let cdrom = false;
  let backend: string | null = null;
  let backendtype: string | null = null;
  let script: string | null = null;
  let depr = false;
  let positionalAccess = false;
  const other: string[] = [];
  const err = (what: string, text: string): DiskResult => ({ ok: false, error: `${what}: ${text}` });
  const setAccess = (v: string): boolean => {
    if (v === 'r' || v === 'ro') access = 'ro';
    else if (v === 'rw' || v === 'w' || v === '') access = 'rw';
    else return false;
    return true;
  };
  // DSET(): an enum set twice to different values is an error.
  const setFormat = (f: DiskFormat, text: string): DiskResult | null => {
    if (format !== null && format !== f) return err('format respecified', text);
    format = f;
    return null;
  };
  // savestring(): setting a non-empty value twice is an error; overwriting an empty one is not.
  const respecified = (cur: string | null) => cur !== null && cur !== '';

  let s = spec;
  while (s.length > 0) {
    const ws = /^[ \t\n]+/.exec(s);
    if (ws !== null) {
      s = s.slice(ws[0].length);
      continue;
    }
    if (s.startsWith('target=')) {
      const v = s.slice(7).replace(/,$/, '');
      if (respecified(target)) return err('target respecified', v);
      target = v;
      break;
    }
    // Deprecated prefixes: flex counts their `/.*` trailing context, so they win over every other
    // rule wherever they appear; an unknown `word:` followed by a non-alphanumeric is an error.
    const known = /^(raw|qcow2?|vhd|iscsi|e?nbd|drbd|tapdisk|tap2?|aio|ioemu|file|phy):/.exec(s);
    const unknown = known === null ? /^[a-z][a-z0-9]*:(?=$|[^a-z0-9])/.exec(s) : null;
    if (unknown !== null) return err('unknown deprecated disk prefix', unknown[0]);
    if (known !== null) {
      const p = known[1]!;
      depr = true;
      if (p === 'raw' || p === 'qcow' || p === 'qcow2' || p === 'vhd') {
        const e = setFormat(FORMATS[p]!, p);
        if (e !== null) return e;
      } else if (['iscsi', 'nbd', 'enbd', 'drbd'].includes(p)) {
        if (respecified(script)) return err('script respecified', `block-${p}`);
        script = `block-${p}`;
      }
      s = s.slice(known[0].length);
      continue;
    }
    const comma = s.indexOf(',');
    const param = comma < 0 ? s : s.slice(0, comma);
    const rest = comma < 0 ? '' : s.slice(comma + 1);
    const eq = param.indexOf('=');
    if (eq > 0 || FLAGS.includes(param) || param === 'cdrom') {
      const key = eq > 0 ? param.slice(0, eq) : param;
      const v = eq > 0 ? param.slice(eq + 1) : '';
      if (FLAGS.includes(param)) other.push(param);
      else if (param === 'cdrom' || param === 'devtype=cdrom') cdrom = true;
      else if (param === 'devtype=disk') cdrom = false;
      else if (key === 'devtype') return err('unknown value for type', param);
      else if (key === 'format') {
        const f = FORMATS[v];
        if (f === undefined) return err('unknown value for format', v);
        const e = setFormat(f, v);
        if (e !== null) return e;
      } else if (key === 'access') {
        if (!setAccess(v)) return err('unknown value for access', v);
      } else if (key === 'vdev') {
        if (respecified(vdev)) return err('vdev respecified', v);
        vdev = v;
      } else if (key === 'backendtype') {
        if (!['phy', 'tap', 'qdisk', 'standalone'].includes(v)) return err('unknown value for backendtype', v);
        if (backendtype !== null && backendtype !== v) return err('backend respecified', v);
        backendtype = v;
      } else if (key === 'specification') {
        if (v !== 'xen' && v !== 'virtio') return err('unknown value for specification', v);
        other.push(param);
      } else if (STRING_KEYS.includes(key)) {
        if (key === 'backend') {
          if (respecified(backend)) return err('backend respecified', v);
          backend = v;
        } else if (key === 'script') {
          if (respecified(script)) return err('script respecified', v);
          script = v;
        } else other.push(param);
      } else return err('unknown parameter', param);
      s = rest;
      continue;
    }
    if (eq === 0) return err('bad disk syntax', s);
    // A positional parameter: target, then format (unless a deprecated prefix set it), vdev, access.
    if (target === null) target = param;
    else if (!depr && format === null) {
      const colon = param.lastIndexOf(':');
      if (target === '' && colon >= 0) {
        const r = vdevAndDevtype(param, colon);
        if (respecified(vdev)) return err('vdev respecified', param);
        if (typeof r === 'string') return err('unknown deprecated type', r);
        vdev = r.vdev;
        cdrom = r.cdrom;
        format = 'empty';
      } else {
        const f = FORMATS[param];
        if (f === undefined) return err('unknown value for format', param);
        const e = setFormat(f, param);
        if (e !== null) return e;
      }
    } else if (vdev === null) {
      const colon = param.lastIndexOf(':');
      if (colon >= 0) {
        const r = vdevAndDevtype(param, colon);
        if (typeof r === 'string') return err('unknown deprecated type', r);
        vdev = r.vdev;
        cdrom = r.cdrom;
      } else vdev = param;
    } else if (!positionalAccess) {
      // Only a positional access counts here (libxlu_disk_l.l access_set): `access=` does not.
      positionalAccess = true;
      if (!setAccess(param)) return err('unknown value for access', param);
    } else return err('too many positional parameters', param);
    s = rest;
  }
  // libxlu_disk.c: a vdev is required; a cdrom is read-only and may be empty.
  if (vdev === null) return { ok: false, error: 'no vdev specified' };
  if (cdrom) access = 'ro';
  if (target === null && !cdrom) return { ok: false, error: 'no target specified (and device not removable)' };
  if (cdrom && (target === null || target === '')) format = 'empty';
  return {
    ok: true,
    disk: { target: target === '' ? null : target, format: format ?? 'raw', vdev, access: access ?? 'rw', cdrom, backend, backendtype, script, other, deprecatedPrefix: depr },
  };
}

function vdevAndDevtype(param: string, colon: number): { vdev: string; cdrom: boolean } | string {
  const type = param.slice(colon + 1);
  if (type !== 'cdrom' && type !== 'disk') return type;
  return { vdev: param.slice(0, colon), cdrom: type === 'cdrom' };
}
