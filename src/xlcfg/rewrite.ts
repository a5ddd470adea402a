/**
 * The config rewrites pvhctl performs: PV → PVH, PV → PVH with the PV shim, and PVH → PV
 * (rollback when no saved original exists). Each is a pure function of the parsed config and
 * what the caller knows (kernel readiness verdicts, the host's 32-bit PV support, the paths of
 * the GRUB images and the shim); it returns the new text and the reasons for each change, or a
 * refusal with its reason. Edits touch only the statements they change (printer.ts).
 */
import { isFailure, type KernelResult, type PvAbi } from '../kernel/types.ts';
import { modelOf, type XlType, type XlModel } from './model.ts';
import type { SwitchTarget } from '../fleet/types.ts';
import { printXlConfig, removeSetting, setSetting, type XlNewValue } from './printer.ts';
import type { XlConfig } from './types.ts';
import { PV_FIRMWARE, validateModel } from './validate.ts';

/** Where the boot images live on the host (settings; defaults are Debian 12's). */
export type BootPaths = { pvhGrub: string; pvGrub64: string; pvGrub32: string; shim: string };

export const DEBIAN_BOOT_PATHS: BootPaths = {
  pvhGrub: '/usr/lib/grub-xen/grub-i386-xen_pvh.bin',
  pvGrub64: '/usr/lib/grub-xen/grub-x86_64-xen.bin',
  pvGrub32: '/usr/lib/grub-xen/grub-i386-xen.bin',
  shim: '/usr/lib/xen-4.17/boot/xen-shim',
};

/** What the kernel readiness check says of a `kernel` path, or that the file cannot be read from here. */
export type KernelReadiness =
  | { readable: false; reason: string }
  | { readable: true; pv: boolean; pvh: boolean; abi: PvAbi | null; reason: string; pvReason: string };

export type RewriteContext = {
  paths?: Partial<BootPaths>;
  /** The readiness verdict for a kernel path (the shell inspects the file; the core stays pure). */
  kernelCheck?: (path: string) => KernelReadiness;
  /** Whether the target host runs 32-bit PV guests (`xen-3.0-x86_32p` in xen_caps). */
  host32bitPv?: boolean;
  /** The guest's kernel width when known otherwise (needed to pick a PV GRUB on rollback). */
  guestArch?: 'x86_64' | 'x86_32p';
  /** What to do with `memory` < `maxmem` (default: refuse); see PodChoice. */
  pod?: PodChoice;
};

/**
 * A PV guest with `memory` < `maxmem` becomes a populate-on-demand guest under PVH (as under
 * HVM: libxl sets a PoD target below the maximum), and PoD guests have died with "out of PoD
 * memory" (reported for Linux 5.4.150+ and 5.10.70+). Refused unless the operator chooses:
 * `maxmem-equals-memory` writes maxmem = memory (the guest can no longer balloon up), `accept`
 * keeps PoD knowingly.
 */
export type PodChoice = 'refuse' | 'maxmem-equals-memory' | 'accept';

/** A refusal that waits for the operator's PodChoice: the guest's memory and maxmem, in MB. */
export type PodRefusal = { memory: number; maxmem: number };


export type Rewrite =
  | { ok: true; target: SwitchTarget; text: string; config: XlConfig; reasons: string[]; warnings: string[] }
  | { ok: false; target: SwitchTarget; refusal: string; reasons: string[]; pod?: PodRefusal };

/**
 * Adapts a kernel readiness result (src/kernel) to what the rewrites need.
 * @example
 * kernelCheckFrom({ file: '/boot/vmlinuz', error: 'ENOENT: no such file' })
 * // => { readable: false, reason: 'ENOENT: no such file' }
 */
export function kernelCheckFrom(r: KernelResult): KernelReadiness {
  if (isFailure(r)) return { readable: false, reason: r.error };
  return { readable: true, pv: r.pv.capable, pvh: r.pvh.capable, abi: r.pv.abi, reason: r.pvh.reason, pvReason: r.pv.reason };
}

/**
 * Rewrites a config for the chosen target.
 * @example
 * convertConfig(parse('name = "w"\nbuilder = "generic"\nbootloader = "pygrub"\n'), 'pvh', {})
 * // => { ok: true, text: 'name = "w"\ntype = "pvh"\nbootloader = "pygrub"\n', reasons: [...] }
 */
export function convertConfig(config: XlConfig, target: SwitchTarget, ctx: RewriteContext = {}): Rewrite {
  const paths = { ...DEBIAN_BOOT_PATHS, ...ctx.paths };
  const model = modelOf(config);
  const ed = new Editor(config, target);
  if (!model.type.ok) return ed.refuse(`the config's type cannot be read: ${model.type.error}`);
  const errors = validateModel(model).findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) return ed.refuse(`the config has errors xl would refuse: ${errors.map((f) => f.message).join('; ')}`);
  if (target === 'pv') return toPv(model, ed, paths, ctx);
  if (model.type.type !== 'pv') return ed.refuse(`the guest is ${label(model.type.type)}, not PV`);
  if (model.pci.length > 0) return ed.refuse('pci passthrough is set: passthrough is not supported for x86 PVH guests');
  return target === 'pvh' ? toPvh(model, ed, paths, ctx) : toShim(model, ed, paths, ctx);
}

const label = (t: XlType) => t.toUpperCase();
const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const isImage = (kernel: string, image: string) => kernel === image || basename(kernel) === basename(image);

function toPvh(m: XlModel, ed: Editor, paths: BootPaths, ctx: RewriteContext): Rewrite {
  if (m.firmware !== null && PV_FIRMWARE.includes(m.firmware)) {
    ed.remove('firmware', `firmware = "${m.firmware}" is a PV GRUB image, which cannot boot as PVH`);
    ed.set('kernel', paths.pvhGrub, `the PVH GRUB image (${paths.pvhGrub}) boots the guest's own grub.cfg, 32- or 64-bit`, ['type', 'builder', 'name']);
  } else if (m.kernel !== null && (isImage(m.kernel, paths.pvGrub64) || isImage(m.kernel, paths.pvGrub32))) {
    ed.set('kernel', paths.pvhGrub, `kernel ${m.kernel} is a PV GRUB image; the PVH GRUB image (${paths.pvhGrub}) replaces it`);
  } else if (m.kernel !== null && !isImage(m.kernel, paths.pvhGrub)) {
    const check = ctx.kernelCheck?.(m.kernel) ?? { readable: false as const, reason: 'no kernel check was run' };
    if (!check.readable) {
      ed.warn(`kernel ${m.kernel} could not be read here (${check.reason}): its PHYS32_ENTRY note was not checked; check it before booting as PVH`);
    } else if (!check.pvh) {
      return ed.refuse(`kernel ${m.kernel} cannot boot as PVH: ${check.reason}`);
    } else {
      ed.reason(`kernel ${m.kernel} has the PVH entry (PHYS32_ENTRY): ${check.reason}`);
    }
    consoleOnHvc0(m, ed);
  } else if (m.bootloader !== null) {
    ed.reason(`bootloader = "${m.bootloader}" is kept: pygrub is allowed with type = "pvh" since Xen 4.10`);
  } else if (m.kernel === null) {
    return ed.refuse('nothing to boot: no kernel, bootloader or firmware');
  }
  return commonPvhEdits(m, ed, ctx) ?? ed.finish('pvh');
}

function toShim(m: XlModel, ed: Editor, paths: BootPaths, ctx: RewriteContext): Rewrite {
  if (m.firmware !== null && PV_FIRMWARE.includes(m.firmware)) {
    const image = m.firmware === 'pvgrub32' ? paths.pvGrub32 : paths.pvGrub64;
    ed.remove('firmware', `firmware = "${m.firmware}" is given to the shim as its PV kernel instead`);
    ed.set('kernel', image, `the PV GRUB image ${image} runs unchanged inside the shim`, ['type', 'builder', 'name']);
  } else if (m.kernel !== null && (isImage(m.kernel, paths.pvGrub64) || isImage(m.kernel, paths.pvGrub32))) {
    ed.reason(`kernel ${m.kernel} (a PV GRUB image) is kept: the PV shim loads it unchanged`);
  } else if (m.kernel !== null) {
    // The shim boots its guest as PV (the shim's own PV loader): a kernel without the Xen PV notes
    // (Debian's 686) cannot start under it any more than on a PV host.
    const check = ctx.kernelCheck?.(m.kernel) ?? { readable: false as const, reason: 'no kernel check was run' };
    if (!check.readable) {
      ed.warn(`kernel ${m.kernel} could not be read here (${check.reason}): its Xen PV notes were not checked; check it before booting under the shim`);
    } else if (!check.pv) {
      return ed.refuse(`kernel ${m.kernel} cannot run under the PV shim, which boots it as PV: ${check.pvReason}`);
    } else {
      ed.reason(`kernel ${m.kernel} is kept: it has the Xen PV entry (${check.abi ?? 'unknown ABI'}), and the PV shim loads it unchanged`);
    }
  } else if (m.bootloader !== null) {
    ed.reason(`bootloader = "${m.bootloader}" is kept: the kernel it picks runs under the shim`);
  } else {
    return ed.refuse('nothing to boot: no kernel, bootloader or firmware');
  }
  const refused = commonPvhEdits(m, ed, ctx);
  if (refused !== null) return refused;
  ed.set('pvshim', { number: '1' }, 'pvshim = 1 runs the PV kernel inside a PVH container under the PV shim (Xen >= 4.10.1)', ['type']);
  if (paths.shim !== DEBIAN_BOOT_PATHS.shim) ed.set('pvshim_path', paths.shim, `the shim is at ${paths.shim} on this host`, ['pvshim']);
  return ed.finish('pvh-shim');
}

/** `console=hvc0` as a word of a kernel command line, with or without options (`console=hvc0,115200`). */
const HVC0 = /(^|[ \t])console=hvc0(,[^ \t]*)?([ \t]|$)/;

/**
 * A kernel booted from dom0 under PVH gets `console=hvc0` on its command line: Linux makes hvc0 its
 * preferred console only on the PV entry path (arch/x86/xen/enlighten_pv.c), so without it the
 * kernel's messages and panics never reach the xl console. The word goes at the end of `cmdline`
 * when the config uses it (it overrides `root` and `extra` in xl_parse.c), else of `extra`; every
 * other word is kept as it was, and a command line that already has it is left alone.
 */
function consoleOnHvc0(m: XlModel, ed: Editor): void {
  const key = m.cmdline !== null ? 'cmdline' : 'extra';
  const current = key === 'cmdline' ? m.cmdline : m.extra;
  if (current === null && m.settings.has(key)) {
    ed.warn(`${key} is a list, which xl ignores: console=hvc0 was not added, so the kernel's messages will not reach the xl console under PVH`);
    return;
  }
  if (current !== null && HVC0.test(current)) return;
  // The old text stays a prefix of the new one, byte for byte.
  const next = current === null ? 'console=hvc0' : `${current}${current === '' || /[ \t]$/.test(current) ? '' : ' '}console=hvc0`;
  ed.set(key, next, `console=hvc0 added to ${key}: under PVH the kernel's messages reach the xl console only with console=hvc0 (Linux picks hvc0 by itself only when it boots as PV)`, ['root', 'ramdisk', 'kernel']);
}

/** What PV → PVH and PV → shim share: the type, builder, top-level vnc keys, e820_host, PoD; a refusal or null. */
function commonPvhEdits(m: XlModel, ed: Editor, ctx: RewriteContext): Rewrite | null {
  ed.set('type', 'pvh', m.type.ok && m.type.from === 'type' ? 'type becomes "pvh"' : `type = "pvh" (the config had no type: ${m.builder !== null ? 'its builder made it' : 'xl defaults to'} PV)`, ['builder', 'name']);
  if (m.builder !== null) ed.remove('builder', `builder = "${m.builder}" is deprecated and would contradict type = "pvh"`);
  vncToVfb(m, ed);
  if (m.e820Host !== null) ed.remove('e820_host', 'e820_host applies to PV guests only (ignored under PVH)');
  if (m.memory !== null && m.maxmem !== null && m.memory.ok && m.maxmem.ok && m.memory.value < m.maxmem.value) {
    const pod = `memory (${m.memory.value} MB) is below maxmem (${m.maxmem.value} MB): under PVH that makes it a populate-on-demand guest, which can crash with "out of PoD memory"`;
    const choice = ctx.pod ?? 'refuse';
    if (choice === 'refuse') return ed.refuse(`${pod}; an operator can set maxmem = memory, or accept populate-on-demand`, { memory: m.memory.value, maxmem: m.maxmem.value });
    if (choice === 'accept') ed.warn(`${pod} (accepted)`);
    else ed.set('maxmem', { number: String(m.memory.value) }, `maxmem becomes ${m.memory.value}, equal to memory: ${pod} otherwise`, ['memory']);
  }
  return null;
}

/** Top-level vnc/sdl keys do nothing under PVH: fold them into one vfb entry (xl.cfg(5) "vfb"). */
function vncToVfb(m: XlModel, ed: Editor): void {
  if (m.vncKeys.length === 0) return;
  const opts: string[] = [];
  for (const key of m.vncKeys) {
    const e = m.settings.get(key)!;
    if (typeof e.value !== 'string') continue;
    opts.push(`${key}=${e.value}`);
  }
  const enabled = (k: string) => {
    const v = m.settings.get(k)?.value;
    return typeof v === 'string' && v !== '' && v !== '0';
  };
  for (const key of m.vncKeys) ed.remove(key, `top-level ${key} does nothing under PVH`);
  if (m.vfbs.length > 0) {
    ed.reason('vfb is already set: the top-level framebuffer keys were ignored by xl and are dropped');
  } else if (enabled('vnc') || enabled('sdl')) {
    ed.set('vfb', [opts.join(',')] as XlNewValue, `the framebuffer moves to vfb = [ "${opts.join(',')}" ]`, ['vif', 'disk', 'name']);
  } else {
    ed.reason('the top-level framebuffer keys enabled nothing and are dropped');
  }
}

function toPv(m: XlModel, ed: Editor, paths: BootPaths, ctx: RewriteContext): Rewrite {
  if (!m.type.ok || m.type.type !== 'pvh') return ed.refuse(`the guest is ${m.type.ok ? label(m.type.type) : 'of no readable type'}, not PVH`);
  const shim = m.pvshim !== null && m.pvshim.ok && m.pvshim.value !== 0;
  const host32 = ctx.host32bitPv ?? false;
  if (m.kernel !== null && isImage(m.kernel, paths.pvhGrub)) {
    if (ctx.guestArch === undefined) return ed.refuse('the PVH GRUB image boots any width, but a PV GRUB must match the guest kernel: the guest architecture is unknown');
    if (ctx.guestArch === 'x86_32p' && !host32) return ed.refuse('the guest is 32-bit and the target host lacks 32-bit PV (no xen-3.0-x86_32p in xen_caps)');
    const image = ctx.guestArch === 'x86_64' ? paths.pvGrub64 : paths.pvGrub32;
    ed.set('kernel', image, `the PVH GRUB image becomes the ${ctx.guestArch === 'x86_64' ? '64' : '32'}-bit PV GRUB image ${image}`);
  } else if (m.kernel !== null && (isImage(m.kernel, paths.pvGrub32) || isImage(m.kernel, paths.pvGrub64))) {
    if (isImage(m.kernel, paths.pvGrub32) && !host32) return ed.refuse('the guest boots the 32-bit PV GRUB and the target host lacks 32-bit PV (no xen-3.0-x86_32p in xen_caps)');
    ed.reason(`kernel ${m.kernel} (a PV GRUB image${shim ? ', run under the shim' : ''}) boots as PV directly`);
  } else if (m.kernel !== null) {
    const check = ctx.kernelCheck?.(m.kernel) ?? { readable: false as const, reason: 'no kernel check was run' };
    if (!check.readable) {
      ed.warn(`kernel ${m.kernel} could not be read here (${check.reason}): its PV entry was not checked`);
    } else if (!check.pv) {
      return ed.refuse(`kernel ${m.kernel} cannot boot as PV: ${check.pvReason}`);
    } else if (check.abi === 'xen-3.0-x86_32p' && !host32) {
      return ed.refuse(`kernel ${m.kernel} is 32-bit PV (xen-3.0-x86_32p) and the target host lacks 32-bit PV`);
    } else {
      ed.reason(`kernel ${m.kernel} has the PV entry (${check.abi ?? 'unknown ABI'})`);
    }
  } else if (m.bootloader !== null) {
    ed.reason(`bootloader = "${m.bootloader}" is kept`);
    if (ctx.guestArch === 'x86_32p' && !host32) return ed.refuse('the guest is 32-bit and the target host lacks 32-bit PV');
  } else if (m.firmware === null) {
    return ed.refuse('nothing to boot: no kernel, bootloader or firmware');
  }
  ed.set('type', 'pv', 'type becomes "pv"');
  for (const key of ['pvshim', 'pvshim_path', 'pvshim_cmdline', 'pvshim_extra', 'nestedhvm', 'hap', 'oos', 'shadow_memory', 'timer_mode']) {
    if (m.settings.has(key)) ed.remove(key, `${key} is valid only for PVH`);
  }
  return ed.finish('pv');
}

/** Applies edits in order, collecting reasons; the first edit that fails refuses the rewrite. */
class Editor {
  private config: XlConfig;
  private readonly target: SwitchTarget;
  private readonly reasons: string[] = [];
  private readonly warnings: string[] = [];
  private failed: string | null = null;

  constructor(config: XlConfig, target: SwitchTarget) {
    this.config = config;
    this.target = target;
  }

  reason(text: string): void {
    this.reasons.push(text);
  }

  warn(text: string): void {
    this.warnings.push(text);
  }

  set(key: string, value: XlNewValue, why: string, after: string[] = []): void {
    if (this.failed !== null) return;
    const r = setSetting(this.config, key, value, { after });
    if (!r.ok) this.failed = r.error;
    else this.config = r.config;
    this.reasons.push(why);
  }

  remove(key: string, why: string): void {
    if (this.failed !== null) return;
    const r = removeSetting(this.config, key);
    if (!r.ok) this.failed = r.error;
    else this.config = r.config;
    this.reasons.push(`removed ${key}: ${why}`);
  }

  refuse(refusal: string, pod?: PodRefusal): Rewrite {
    return { ok: false, target: this.target, refusal, reasons: this.reasons, ...(pod === undefined ? {} : { pod }) };
  }

  finish(target: SwitchTarget): Rewrite {
    if (this.failed !== null) return this.refuse(this.failed);
    // The result must be a config xl accepts for the new type.
    const want: XlType = target === 'pv' ? 'pv' : 'pvh';
    const v = validateModel(modelOf(this.config));
    if (v.type !== want) return this.refuse(`internal check: the rewritten config is ${v.type ?? 'untyped'}, not ${want}`);
    const errors = v.findings.filter((f) => f.severity === 'error');
    if (errors.length > 0) return this.refuse(`the rewritten config would not start: ${errors.map((f) => f.message).join('; ')}`);
    return { ok: true, target, text: printXlConfig(this.config), config: this.config, reasons: this.reasons, warnings: this.warnings };
  }
}
