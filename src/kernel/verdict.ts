/**
 * Whether Xen's domain builder would boot an image as PV and as PVH, following
 * xen/common/libelf/libelf-dominfo.c (elf_xen_note_check) and tools/libs/guest's
 * xc_dom_guest_type / xc_dom_compat_check, plus the one rule Xen does not check: a PV kernel
 * needs the ENTRY note (Linux emits it only with CONFIG_XEN_PV).
 */
import { EM_386, EM_X86_64 } from './elf.ts';
import { parseFeatures, XEN_ELFNOTE } from './notes.ts';
import type { KernelArch, PvAbi, PvhVerdict, PvVerdict, XenNote } from './types.ts';

/** What the image told Xen: its machine, its Xen notes, and where they were found. */
export type XenImageInfo = {
  machine: number;
  /** Xen-owned notes, in file order (a later note of the same type wins, as in libelf). */
  notes: XenNote[];
  /** True when Xen would find a note area at all (any PT_NOTE segment or SHT_NOTE section). */
  noteArea: boolean;
  /** KEY=VALUE pairs of a legacy `__xen_guest` section (PV only), or null. */
  guestInfo: Record<string, string> | null;
};

type Parms = {
  loader: string;
  guestOs: string;
  xenVersion: string;
  pae: 'no' | 'yes' | 'bimodal';
  physEntry: boolean;
  entry: boolean;
  features: ReturnType<typeof parseFeatures>;
};

/** libelf's elf_dom_parms, as far as the verdict needs them. Strings are cut to Xen's 16-byte fields. */
function parms(info: XenImageInfo): Parms {
  const last = (type: number) => {
    let v: XenNote | undefined;
    for (const n of info.notes) if (n.type === type) v = n;
    return v === undefined ? undefined : typeof v.value === 'string' ? v.value : v.value.join(',');
  };
  const gi = info.guestInfo ?? {};
  const cut = (s: string | undefined) => (s ?? '').slice(0, 15);
  const paeNote = last(XEN_ELFNOTE.PAE_MODE);
  let pae: Parms['pae'] = 'no';
  if (paeNote !== undefined) {
    if (paeNote === 'yes') pae = 'yes';
    if (paeNote.includes('bimodal')) pae = 'bimodal';
  } else if (gi.PAE !== undefined && gi.PAE.startsWith('yes')) {
    pae = 'yes';
  }
  return {
    loader: cut(last(XEN_ELFNOTE.LOADER) ?? gi.LOADER),
    guestOs: cut(last(XEN_ELFNOTE.GUEST_OS) ?? gi.GUEST_OS),
    xenVersion: cut(last(XEN_ELFNOTE.XEN_VERSION) ?? gi.XEN_VER),
    pae,
    physEntry: last(XEN_ELFNOTE.PHYS32_ENTRY) !== undefined,
    entry: last(XEN_ELFNOTE.ENTRY) !== undefined || gi.VIRT_ENTRY !== undefined,
    features: parseFeatures(last(XEN_ELFNOTE.FEATURES) ?? gi.FEATURES ?? ''),
  };
}

/** The architecture name pvhctl reports for an image. */
export function archOf(machine: number, notes: XenNote[]): KernelArch | null {
  if (machine === EM_X86_64) return 'x86_64';
  if (machine !== EM_386) return null;
  const pae = notes.filter((n) => n.type === XEN_ELFNOTE.PAE_MODE).pop()?.value;
  return typeof pae === 'string' && (pae === 'yes' || pae.includes('bimodal')) ? 'x86_32p' : 'x86_32';
}

/** The guest ABI of xc_dom_guest_type for a PV container (bimodal counted as PAE, as on a pv32 host). */
function pvAbi(machine: number, p: Parms): PvAbi {
  if (machine === EM_X86_64) return 'xen-3.0-x86_64';
  if (machine === EM_386) return p.pae === 'no' ? 'xen-3.0-x86_32' : 'xen-3.0-x86_32p';
  return 'xen-3.0-unknown';
}

/** elf_xen_note_check: the first error Xen's loader prints, or null when the notes pass. */
function noteCheck(info: XenImageInfo, p: Parms, hvm: boolean): string | null {
  const guestInfo = !hvm && info.guestInfo !== null && info.notes.length === 0;
  if (!info.noteArea && !guestInfo) {
    if (info.machine === EM_386 || info.machine === EM_X86_64) {
      return "ERROR: Not a Xen-ELF image: No ELF notes or '__xen_guest' section found";
    }
    return null;
  }
  if (p.physEntry && hvm) return null;
  if (!p.loader.startsWith('generic') && !p.guestOs.startsWith('linux')) {
    return `ERROR: Will only load images built for the generic loader or Linux images (Not '${p.loader}' and '${p.guestOs}') or with PHYS32_ENTRY set`;
  }
  if (!p.xenVersion.startsWith('xen-3.0')) return `ERROR: Xen will only load images built for Xen v3.0 (Not '${p.xenVersion}')`;
  return null;
}

const NOT_XEN = 'The kernel was built without Xen support (no Xen ELF notes), so Xen cannot start it directly.';

/**
 * The PVH verdict: Xen (>= 4.10.1) boots an image in a PVH container when it carries the
 * PHYS32_ENTRY note.
 * @example
 * pvhVerdict(debianAmd64Info) // => { capable: true, reason: 'The kernel has the PVH entry point (PHYS32_ENTRY at 0x1000ad0).' }
 */
export function pvhVerdict(info: XenImageInfo): PvhVerdict {
  const p = parms(info);
  if (p.features.unknownRequired !== null) {
    return { capable: false, reason: `The kernel requires a Xen feature Xen does not know ('${p.features.unknownRequired}').`, xenMessage: 'ELF: note invalid' };
  }
  if (p.features.required.has('dom0')) {
    return { capable: false, reason: 'The kernel only runs as dom0 (FEATURES requires dom0): it refuses to run as a guest.', xenMessage: null };
  }
  const err = noteCheck(info, p, true);
  if (err !== null) {
    return { capable: false, reason: info.notes.length === 0 ? `${NOT_XEN} It has no PVH entry point either.` : 'The kernel has no PVH entry point (no PHYS32_ENTRY note).', xenMessage: err };
  }
  if (p.physEntry) {
    const at = info.notes.filter((n) => n.type === XEN_ELFNOTE.PHYS32_ENTRY).pop()!.value;
    return { capable: true, reason: `The kernel has the PVH entry point (PHYS32_ENTRY at ${String(at)}).` };
  }
  return {
    capable: false,
    reason: 'The kernel has Xen PV notes but no PVH entry point (no PHYS32_ENTRY note; Linux needs CONFIG_XEN_PVH, 4.11 or later).',
    xenMessage: 'xc_dom_guest_type: image not capable of booting inside a HVM container',
  };
}

/**
 * The PV verdict and the guest ABI the image would run as.
 * @example
 * pvVerdict(debian686PaeInfo) // => { capable: false, abi: 'xen-3.0-x86_32p', reason: 'The kernel has Xen notes but no PV entry point ...', xenMessage: null }
 */
export function pvVerdict(info: XenImageInfo): PvVerdict {
  const p = parms(info);
  const abi = info.machine === EM_386 || info.machine === EM_X86_64 ? pvAbi(info.machine, p) : null;
  if (p.features.unknownRequired !== null) {
    return { capable: false, abi, reason: `The kernel requires a Xen feature Xen does not know ('${p.features.unknownRequired}').`, xenMessage: 'ELF: note invalid' };
  }
  if (p.features.required.has('dom0')) {
    return { capable: false, abi, reason: 'The kernel only runs as dom0 (FEATURES requires dom0): it refuses to run as a guest.', xenMessage: null };
  }
  const err = noteCheck(info, p, false);
  if (err !== null) {
    return { capable: false, abi, reason: info.notes.length === 0 && info.guestInfo === null ? NOT_XEN : 'The kernel\'s Xen notes do not describe a PV guest Xen can load.', xenMessage: err };
  }
  if (abi === null || abi === 'xen-3.0-unknown') {
    return { capable: false, abi, reason: 'The kernel is not an x86 kernel.', xenMessage: null };
  }
  if (!p.entry) {
    return {
      capable: false,
      abi,
      reason:
        'The kernel has Xen notes but no PV entry point (no ENTRY note: built without CONFIG_XEN_PV). Xen would load it and jump to its native entry, and it would crash at once.',
      xenMessage: null,
    };
  }
  if (abi === 'xen-3.0-x86_32') {
    return {
      capable: false,
      abi,
      reason: 'The kernel is 32-bit PV without PAE (xen-3.0-x86_32), which no 64-bit Xen runs.',
      xenMessage: 'xc_dom_compat_check: guest type xen-3.0-x86_32 not supported by xen kernel, sorry',
    };
  }
  if (abi === 'xen-3.0-x86_32p') {
    return {
      capable: true,
      abi,
      reason: 'The kernel is 32-bit PV (PAE). Only hosts with 32-bit PV on (xen-3.0-x86_32p in xen_caps) run it; elsewhere it needs the PV shim.',
    };
  }
  return { capable: true, abi, reason: 'The kernel has the PV entry point (ENTRY note) and runs as a 64-bit PV guest.' };
}

/**
 * Whether a host with these `xen_caps` (from `xl info`) runs the image as PV, with Xen's message when not.
 * @example
 * pvOnHost({ capable: true, abi: 'xen-3.0-x86_32p', reason: '' }, 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64')
 * // => { ok: false, xenMessage: 'xc_dom_compat_check: guest type xen-3.0-x86_32p not supported by xen kernel, sorry' }
 */
export function pvOnHost(pv: PvVerdict, xenCaps: string): { ok: true } | { ok: false; xenMessage: string | null } {
  if (!pv.capable) return { ok: false, xenMessage: pv.xenMessage };
  if (xenCaps.split(/\s+/).includes(pv.abi)) return { ok: true };
  return { ok: false, xenMessage: `xc_dom_compat_check: guest type ${pv.abi} not supported by xen kernel, sorry` };
}
