/**
 * A typed view of the keys of an xl domain config that pvhctl acts on, read as xl reads them
 * (tools/xl/xl_parse.c): the effective guest type from `type` and the deprecated `builder`,
 * the boot method, devices, memory. Every field says what xl would make of it.
 */
import { parseDiskSpec, type DiskResult } from './disk.ts';
import { effectiveSettings } from './parser.ts';
import type { XlConfig, XlEffective } from './types.ts';

export type XlType = 'pv' | 'pvh' | 'hvm';

export type TypeResult =
  | { ok: true; type: XlType; from: 'type' | 'builder' | 'default' }
  | { ok: false; error: string };

/** A number as xl reads it (strtol base 0: `0x10` hex, `010` octal), or why it cannot be read. */
export type XlNumber = { ok: true; value: number } | { ok: false; error: string };

export type XlModel = {
  name: string | null;
  uuid: string | null;
  type: TypeResult;
  builder: string | null;
  kernel: string | null;
  ramdisk: string | null;
  cmdline: string | null;
  root: string | null;
  extra: string | null;
  bootloader: string | null;
  bootloaderArgs: string[] | string | null;
  firmware: string | null;
  pvshim: XlNumber | null;
  pvshimPath: string | null;
  pvshimCmdline: string | null;
  pvshimExtra: string | null;
  disks: { spec: string; result: DiskResult }[];
  vifs: DeviceSpec[];
  vfbs: DeviceSpec[];
  /** Top-level framebuffer keys (vnc, vnclisten, vncdisplay, vncpasswd, vncunused, sdl, keymap, ...) present. */
  vncKeys: string[];
  pci: string[];
  memory: XlNumber | null;
  maxmem: XlNumber | null;
  e820Host: XlNumber | null;
  /** Keys xl reads as single values but given as lists (xl warns and ignores them), and the reverse. */
  shapeErrors: string[];
  /** Every effective setting, for checks on keys not modelled above. */
  settings: Map<string, XlEffective>;
};

/**
 * A `vif` or `vfb` entry: comma-separated `key=value` options (xl_parse.c splits on ',' and skips
 * blanks before each option; an option without '=' is kept with an empty value).
 */
export type DeviceSpec = { spec: string; options: Map<string, string> };

/**
 * Splits a vif/vfb spec into its options; a later option of the same name wins, as in xl.
 * @example
 * parseDeviceSpec('bridge=xenbr0, mac=00:16:3e:00:00:01').options.get('mac') // => '00:16:3e:00:00:01'
 */
export function parseDeviceSpec(spec: string): DeviceSpec {
  const options = new Map<string, string>();
  for (const raw of spec.split(',')) {
    const opt = raw.replace(/^ +/, '');
    if (opt === '') continue;
    const eq = opt.indexOf('=');
    options.set(eq < 0 ? opt : opt.slice(0, eq), eq < 0 ? '' : opt.slice(eq + 1));
  }
  return { spec, options };
}

/** Top-level keys that give a PV guest a framebuffer (xl_parse.c parse_top_level_vnc_options, sdl). */
export const TOP_LEVEL_VFB_KEYS = ['vnc', 'vnclisten', 'vncdisplay', 'vncpasswd', 'vncunused', 'sdl', 'opengl', 'display', 'xauthority', 'keymap'];

/**
 * The guest type xl derives: `type` prefix-matched against hvm, pv, pvh in that order (so `""`
 * and `"h"` mean HVM and `"p"` PV); `builder` prefix-matched against hvm and generic; a builder
 * that contradicts type is an error; neither means PV on x86.
 * @example
 * guestType(undefined, 'generic') // => { ok: true, type: 'pv', from: 'builder' }
 * guestType('PVH', undefined) // => { ok: false, error: 'Invalid domain type PVH.' }
 */
export function guestType(type: string | undefined, builder: string | undefined): TypeResult {
  let t: XlType | null = null;
  let from: 'type' | 'builder' | 'default' = 'default';
  const prefixOf = (s: string, word: string) => word.startsWith(s);
  if (type !== undefined) {
    if (prefixOf(type, 'hvm')) t = 'hvm';
    else if (prefixOf(type, 'pv')) t = 'pv';
    else if (prefixOf(type, 'pvh')) t = 'pvh';
    else return { ok: false, error: `Invalid domain type ${type}.` };
    from = 'type';
  }
  if (builder !== undefined) {
    let b: XlType;
    if (prefixOf(builder, 'hvm')) b = 'hvm';
    else if (prefixOf(builder, 'generic')) b = 'pv';
    else return { ok: false, error: `Invalid domain type ${builder}.` };
    if (t !== null && t !== b) return { ok: false, error: 'Contradicting "builder" and "type" options specified.' };
    if (t === null) from = 'builder';
    t = b;
  }
  return { ok: true, type: t ?? 'pv', from };
}

/**
 * xl's xlu_cfg_get_long: strtol with base 0 over the whole text; `+=` on a number is refused.
 * @example
 * readXlNumber({ key: 'memory', op: '=', value: '0x400', line: 1, number: true }) // => { ok: true, value: 1024 }
 */
export function readXlNumber(e: XlEffective): XlNumber {
  if (typeof e.value !== 'string') return { ok: false, error: `parameter \`${e.key}' is a list but should be a single value` };
  if (e.op === '+=') return { ok: false, error: `can't use += with numbers for parameter \`${e.key}'` };
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(e.value);
  if (m === null) return { ok: false, error: `parameter \`${e.key}' is not a valid number` };
  const body = m[2]!;
  const magnitude = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
  const value = m[1] === '-' ? -magnitude : magnitude;
  if (!Number.isSafeInteger(value) || Math.abs(value) > 2 ** 63) return { ok: false, error: `parameter \`${e.key}' could not be parsed as a number: Numerical result out of range` };
  return { ok: true, value };
}

/**
 * Builds the typed view of a parsed config.
 * @example
 * modelOf(parsed).type // => { ok: true, type: 'pv', from: 'builder' }
 */
export function modelOf(config: XlConfig): XlModel {
  const settings = effectiveSettings(config);
  const shapeErrors: string[] = [];
  const str = (key: string): string | null => {
    const e = settings.get(key);
    if (e === undefined) return null;
    if (typeof e.value !== 'string') {
      shapeErrors.push(`parameter \`${key}' is a list but should be a single value (line ${e.line})`);
      return null;
    }
    return e.value;
  };
  const list = (key: string): string[] => {
    const e = settings.get(key);
    if (e === undefined) return [];
    if (typeof e.value === 'string') {
      shapeErrors.push(`parameter \`${key}' is a single value but should be a list (line ${e.line})`);
      return [];
    }
    return e.value.filter((v): v is string => typeof v === 'string');
  };
  const num = (key: string): XlNumber | null => {
    const e = settings.get(key);
    return e === undefined ? null : readXlNumber(e);
  };
  const type = str('type');
  const builder = str('builder');
  const ba = settings.get('bootloader_args');
  const disks = list('disk').map((spec) => ({ spec, result: parseDiskSpec(spec) }));
  return {
    name: str('name'),
    uuid: str('uuid'),
    type: guestType(type ?? undefined, builder ?? undefined),
    builder,
    kernel: str('kernel'),
    ramdisk: str('ramdisk'),
    cmdline: str('cmdline'),
    root: str('root'),
    extra: str('extra'),
    bootloader: str('bootloader'),
    bootloaderArgs: ba === undefined ? null : typeof ba.value === 'string' ? ba.value : ba.value.filter((v): v is string => typeof v === 'string'),
    firmware: str('firmware'),
    pvshim: num('pvshim'),
    pvshimPath: str('pvshim_path'),
    pvshimCmdline: str('pvshim_cmdline'),
    pvshimExtra: str('pvshim_extra'),
    disks,
    vifs: list('vif').map(parseDeviceSpec),
    vfbs: list('vfb').map(parseDeviceSpec),
    vncKeys: TOP_LEVEL_VFB_KEYS.filter((k) => settings.has(k)),
    pci: list('pci'),
    memory: num('memory'),
    maxmem: num('maxmem'),
    e820Host: num('e820_host'),
    shapeErrors,
    settings,
  };
}
