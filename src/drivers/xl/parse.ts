/**
 * Pure parsers for what `xl` and the xenstore tools print. Bounded: inputs over MAX_OUTPUT are
 * refused, and every field taken from them is checked before it is used.
 */
import { DriverError, type Domain, type DomainState, type DomainType, type Frontends, type HostInfo, type XenbusState } from '../driver.ts';

/** The most output pvhctl reads from one xl command (xl list -l of ~1000 domains is ~10 MB). */
export const MAX_OUTPUT = 32 * 1024 * 1024;

function bounded(text: string, what: string): void {
  if (text.length > MAX_OUTPUT) throw new DriverError('failed', `${what}: output over ${MAX_OUTPUT} bytes`);
}

/**
 * Parses `xl info` (`key : value` lines) into the fields pvhctl keeps.
 * @example
 * parseXlInfo('host : xen1\nxen_version : 4.17.5\nxen_caps : xen-3.0-x86_64 hvm-3.0-x86_32\nvirt_caps : pv hvm hap\n')
 * // => { host: 'xen1', xenVersion: '4.17.5', xenCaps: ['xen-3.0-x86_64', 'hvm-3.0-x86_32'], virtCaps: ['pv', 'hvm', 'hap'] }
 */
export function parseXlInfo(text: string): HostInfo {
  bounded(text, 'xl info');
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\s*:\s?(.*)$/.exec(line);
    if (m) kv.set(m[1]!, m[2]!.trim());
  }
  const version = kv.get('xen_version') ?? (kv.has('xen_major') ? `${kv.get('xen_major')}.${kv.get('xen_minor')}${kv.get('xen_extra') ?? ''}` : undefined);
  if (version === undefined || !kv.has('xen_caps')) throw new DriverError('failed', 'xl info: no xen_version or xen_caps line');
  const words = (k: string) => (kv.get(k) ?? '').split(/\s+/).filter((w) => w !== '');
  return { host: kv.get('host') ?? '', xenVersion: version, xenCaps: words('xen_caps'), virtCaps: words('virt_caps') };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses `xl list -l` JSON: an array of `{ domid, config: { c_info: { type, name }, b_info: { "type.pvh": { pvshim } } } }`
 * (libxl_domain_config_gen_json). Domain-0 and entries without a name are left out. States come
 * from plain `xl list` (parseXlList); here every domain is 'running' until merged.
 * @example
 * parseXlListLong('[{"domid":3,"config":{"c_info":{"type":"pvh","name":"web"},"b_info":{"type.pvh":{"pvshim":"True"}}}}]')
 * // => [{ name: 'web', domid: 3, type: 'pvh', pvshim: true, state: 'running' }]
 */
export function parseXlListLong(text: string): Domain[] {
  bounded(text, 'xl list -l');
  if (text.trim() === '') return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new DriverError('failed', `xl list -l: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(data)) throw new DriverError('failed', 'xl list -l: not a JSON array');
  const out: Domain[] = [];
  for (const d of data) {
    if (!isRecord(d) || typeof d.domid !== 'number' || !isRecord(d.config)) continue;
    const c = d.config;
    const cInfo = isRecord(c.c_info) ? c.c_info : {};
    const bInfo = isRecord(c.b_info) ? c.b_info : {};
    const name = cInfo.name;
    const type = cInfo.type;
    if (typeof name !== 'string' || d.domid === 0) continue;
    if (type !== 'pv' && type !== 'pvh' && type !== 'hvm') continue;
    const pvh = bInfo['type.pvh'];
    const pvshim = isRecord(pvh) && (pvh.pvshim === 'True' || pvh.pvshim === true);
    out.push({ name, domid: d.domid, type, pvshim, state: 'running' });
  }
  return out;
}

/** `xl list` state flags r b p s c d, in that order (xl_info.c list_domains). */
function stateOf(flags: string): DomainState {
  if (flags[4] === 'c') return 'crashed';
  if (flags[5] === 'd') return 'dying';
  if (flags[3] === 's') return 'shutdown';
  if (flags[2] === 'p') return 'paused';
  if (flags[1] === 'b') return 'blocked';
  return 'running';
}

/**
 * Parses plain `xl list`: name → { domid, state }.
 * @example
 * parseXlList('Name ID Mem VCPUs State Time(s)\nDomain-0 0 1024 2 r----- 9.1\nweb 3 512 1 -b---- 2.0\n').get('web')
 * // => { domid: 3, state: 'blocked' }
 */
export function parseXlList(text: string): Map<string, { domid: number; state: DomainState }> {
  bounded(text, 'xl list');
  const out = new Map<string, { domid: number; state: DomainState }>();
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\d+)\s+\d+\s+\d+\s+([-rbpscd]{6})\s/.exec(line);
    if (m && m[1] !== 'Domain-0') out.set(m[1]!, { domid: Number(m[2]), state: stateOf(m[3]!) });
  }
  return out;
}

/** Joins `xl list -l` types with `xl list` states (a domain in one list only is left out). */
export function mergeLists(long: Domain[], plain: Map<string, { domid: number; state: DomainState }>): Domain[] {
  return long.flatMap((d) => {
    const p = plain.get(d.name);
    return p !== undefined && p.domid === d.domid ? [{ ...d, state: p.state }] : [];
  });
}

/**
 * Parses `xenstore-ls -f /local/domain/DOMID/device` for the vbd and vif frontends' states.
 * @example
 * parseFrontends('/local/domain/5/device/vbd/51712/state = "4"\n/local/domain/5/device/vif/0/state = "2"\n', 5)
 * // => { vbd: [4], vif: [2] }
 */
export function parseFrontends(text: string, domid: number): Frontends {
  bounded(text, 'xenstore-ls');
  const out: Frontends = { vbd: [], vif: [] };
  const re = new RegExp(`^/local/domain/${domid}/device/(vbd|vif)/\\d+/state = "([0-6])"$`);
  for (const line of text.split('\n')) {
    const m = re.exec(line.trim());
    if (m) out[m[1] as 'vbd' | 'vif'].push(Number(m[2]) as XenbusState);
  }
  return out;
}

/** The DomainType of a guest type name, for callers that hold one. */
export function isDomainType(s: string): s is DomainType {
  return s === 'pv' || s === 'pvh' || s === 'hvm';
}
