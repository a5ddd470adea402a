/**
 * The fleet's view of an xl config, through src/xlcfg/: the facts the switch needs (from xlcfg's
 * model) and the rewrite for a target (xlcfg's convertConfig, fed with the guest's inspection
 * verdict and the host's 32-bit PV support). Configs are read as latin1 so that any byte sequence
 * round-trips exactly; the rewrite touches only the statements it changes.
 */
import { guestFacts } from '../xlcfg/facts.ts';
import { formatParseError, parseXlConfig } from '../xlcfg/parser.ts';
import { convertConfig, type KernelReadiness } from '../xlcfg/rewrite.ts';
import type { PvAbi } from '../kernel/types.ts';
import type { GuestVerdict, ReadConfigFacts, RewriteConfig } from './seams.ts';

const asText = (content: Uint8Array) => Buffer.from(content).toString('latin1');

/**
 * Reads what the fleet needs from an xl config (src/xlcfg/facts.ts guestFacts). A switch acts on
 * every disk of the guest, so a disk spec xl would refuse is an error here.
 * @example
 * readConfigFacts(bytes('name = "web"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\ndisk = [ "phy:/dev/vg0/web,xvda,w" ]\n'), 'web.cfg')
 * // => { ok: true, facts: { name: 'web', type: 'pv', kernel: '/usr/lib/grub-xen/grub-x86_64-xen.bin', disks: [{ path: '/dev/vg0/web', vdev: 'xvda', format: 'raw' }], ... } }
 */
export const readConfigFacts: ReadConfigFacts = (content, file) => {
  const r = guestFacts(content, file);
  if (r.ok && r.facts.badDisks.length > 0) return { ok: false, error: r.facts.badDisks[0]! };
  return r;
};

/** What inspection said of the guest's direct kernel, in the form xlcfg's rewrite asks for. */
function kernelCheckOf(verdict: GuestVerdict | null): (path: string) => KernelReadiness {
  return () => {
    if (verdict === null || (verdict.source !== 'kernel' && verdict.source !== 'sim')) return { readable: false, reason: 'the kernel has not been inspected' };
    return { readable: true, pv: verdict.pv.capable, pvh: verdict.pvh.capable, abi: verdict.pv.abi as PvAbi | null, reason: verdict.pvh.reason, pvReason: verdict.pv.reason };
  };
}

/**
 * Rewrites a config for `to` with xlcfg's convertConfig.
 * @example
 * rewriteConfig(bytes('name = "a"\nbuilder = "generic"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\n'), 'a.cfg', 'pvh', { verdict: null, xenCaps: [] })
 * // => { ok: true, content: bytes('name = "a"\ntype = "pvh"\nkernel = "/usr/lib/grub-xen/grub-i386-xen_pvh.bin"\n'), changes: [...] }
 */
export const rewriteConfig: RewriteConfig = (content, file, to, ctx) => {
  const r = parseXlConfig(asText(content), file);
  if (!r.ok) return { ok: false, reason: formatParseError(r.error) };
  const arch = ctx.verdict?.arch;
  const out = convertConfig(r.config, to, {
    kernelCheck: kernelCheckOf(ctx.verdict),
    host32bitPv: ctx.xenCaps.includes('xen-3.0-x86_32p'),
    ...(arch === 'x86_64' || arch === 'x86_32p' ? { guestArch: arch } : {}),
    ...(ctx.pod === undefined ? {} : { pod: ctx.pod }),
  });
  if (!out.ok) return { ok: false, reason: out.refusal, ...(out.pod === undefined ? {} : { pod: out.pod }) };
  return { ok: true, content: new Uint8Array(Buffer.from(out.text, 'latin1')), changes: [...out.reasons, ...out.warnings.map((w) => `warning: ${w}`)] };
};
