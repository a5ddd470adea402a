/**
 * The fleet's view of an xl config, on the lossless parser (src/xlcfg/): the facts the switch
 * needs, and the PV ⇄ PVH rewrite as minimal edits (every byte not edited stays as it was).
 * Configs are read as latin1 so that any byte sequence round-trips exactly.
 */
import { parseDiskSpec } from '../xlcfg/disk.ts';
import { effectiveSettings, formatParseError, parseXlConfig } from '../xlcfg/parser.ts';
import { printXlConfig, removeSetting, setSetting, type EditResult } from '../xlcfg/printer.ts';
import type { XlConfig, XlResolved } from '../xlcfg/types.ts';
import type { GuestType } from '../store/schema.ts';
import type { ConfigFacts, ReadConfigFacts, RewriteConfig } from './seams.ts';

export const PVGRUB64 = '/usr/lib/grub-xen/grub-x86_64-xen.bin';
export const PVGRUB32 = '/usr/lib/grub-xen/grub-i386-xen.bin';
export const PVH_GRUB = '/usr/lib/grub-xen/grub-i386-xen_pvh.bin';

const str = (v: XlResolved | undefined): string | null => (typeof v === 'string' ? v : null);

/** xl's guest type: `type` prefix-matched in the order hvm, pv, pvh; else `builder`; else PV. */
function guestType(s: Map<string, { value: XlResolved }>): GuestType | string {
  const t = str(s.get('type')?.value);
  const pvshim = /^[1-9]|^0x0*[1-9a-f]/i.test(str(s.get('pvshim')?.value) ?? '0');
  if (t !== null) {
    if ('hvm'.startsWith(t)) return 'hvm';
    if ('pv'.startsWith(t)) return 'pv';
    if (t === 'pvh') return pvshim ? 'pvh-shim' : 'pvh';
    return `invalid domain type "${t}"`;
  }
  const b = str(s.get('builder')?.value);
  if (b === null || b === 'generic') return 'pv';
  if (b === 'hvm') return 'hvm';
  return `invalid builder "${b}"`;
}

function parse(content: Uint8Array, file: string): { ok: true; config: XlConfig } | { ok: false; error: string } {
  const r = parseXlConfig(Buffer.from(content).toString('latin1'), file);
  return r.ok ? r : { ok: false, error: formatParseError(r.error) };
}

/**
 * Reads what the fleet needs from an xl config.
 * @example
 * readConfigFacts(bytes('name = "web"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\ndisk = [ "phy:/dev/vg0/web,xvda,w" ]\n'), 'web.cfg')
 * // => { ok: true, facts: { name: 'web', type: 'pv', kernel: '/usr/lib/grub-xen/grub-x86_64-xen.bin', disks: [{ path: '/dev/vg0/web', vdev: 'xvda' }], ... } }
 */
export const readConfigFacts: ReadConfigFacts = (content, file) => {
  const p = parse(content, file);
  if (!p.ok) return p;
  const s = effectiveSettings(p.config);
  const type = guestType(s);
  if (type !== 'pv' && type !== 'pvh' && type !== 'pvh-shim' && type !== 'hvm') return { ok: false, error: `${file}: ${type}` };
  const disks: ConfigFacts['disks'] = [];
  const list = s.get('disk')?.value;
  for (const d of Array.isArray(list) ? list : []) {
    if (typeof d !== 'string') continue;
    const r = parseDiskSpec(d);
    if (!r.ok) return { ok: false, error: `${file}: disk ${JSON.stringify(d)}: ${r.error}` };
    if (r.disk.target !== null && !r.disk.cdrom) disks.push({ path: r.disk.target, vdev: r.disk.vdev });
  }
  const pci = s.get('pci')?.value;
  return {
    ok: true,
    facts: {
      name: str(s.get('name')?.value),
      type,
      kernel: str(s.get('kernel')?.value) ?? (str(s.get('firmware')?.value)?.startsWith('pvgrub') ? str(s.get('firmware')?.value) : null),
      ramdisk: str(s.get('ramdisk')?.value),
      bootloader: str(s.get('bootloader')?.value),
      pci: Array.isArray(pci) ? pci.length > 0 : pci !== undefined,
      disks,
    },
  };
};

/**
 * TEMPORARY until branch xlcfg lands its PVH rewrite (src/xlcfg/): the conversion as minimal edits
 * with xlcfg's own edit helpers: drop `builder`, set `type`, add or drop `pvshim`, swap a PV GRUB
 * image for the PVH one (or back); refuse PCI passthrough for PVH.
 * @example
 * rewriteConfig(bytes('name = "a"\nbuilder = "generic"\nkernel = "/boot/vmlinuz"\n'), 'a.cfg', 'pvh')
 * // => { ok: true, content: bytes('name = "a"\ntype = "pvh"\nkernel = "/boot/vmlinuz"\n'), changes: [...] }
 */
export const rewriteConfig: RewriteConfig = (content, file, to) => {
  const p = parse(content, file);
  if (!p.ok) return { ok: false, reason: p.error };
  const read = readConfigFacts(content, file);
  if (!read.ok) return { ok: false, reason: read.error };
  const f = read.facts;
  if (to === 'hvm') return { ok: false, reason: 'conversion to HVM is not offered' };
  if (to !== 'pv' && f.pci) return { ok: false, reason: 'PCI passthrough is not supported for PVH guests yet' };
  if (f.type === 'hvm') return { ok: false, reason: 'the guest is HVM' };
  const changes: string[] = [];
  let config = p.config;
  const apply = (r: EditResult, what: string) => {
    if (!r.ok) throw new Error(r.error);
    config = r.config;
    changes.push(what);
  };
  try {
    const s = effectiveSettings(config);
    const type = to === 'pv' ? 'pv' : 'pvh';
    apply(setSetting(config, 'type', type, { after: ['builder', 'name'] }), `type = "${type}"`);
    if (s.has('builder')) apply(removeSetting(config, 'builder'), 'builder removed (deprecated; type says it)');
    if (to === 'pvh-shim') apply(setSetting(config, 'pvshim', { number: '1' }, { after: ['type'] }), 'pvshim = 1');
    else if (s.has('pvshim')) apply(removeSetting(config, 'pvshim'), 'pvshim removed');
    const firmware = str(s.get('firmware')?.value);
    if (to === 'pvh' && (f.kernel === PVGRUB64 || f.kernel === PVGRUB32 || firmware?.startsWith('pvgrub'))) {
      if (firmware !== null) apply(removeSetting(config, 'firmware'), 'firmware removed');
      apply(setSetting(config, 'kernel', PVH_GRUB, { after: ['type'] }), `kernel = "${PVH_GRUB}" (GRUB for PVH boots 32- and 64-bit kernels)`);
    }
    if (to === 'pv' && f.kernel === PVH_GRUB) {
      return { ok: false, reason: 'a PVH GRUB guest has no PV GRUB of known width to go back to; restore its kept config instead' };
    }
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  return { ok: true, content: new Uint8Array(Buffer.from(printXlConfig(config), 'latin1')), changes };
};
