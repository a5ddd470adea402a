/**
 * The one verdict per guest, from facts already gathered (a pure function): whether the guest's
 * default kernel boots as PVH, and otherwise what the customer or operator can do about it.
 * Every verdict carries reasons written for a customer, not for a Xen developer.
 */
import type { BootMenu } from '../boot/types.ts';
import type { KernelResult } from '../kernel/types.ts';
import { installHint, type ConsoleFacts, type OsInfo } from './facts.ts';

export type Verdict =
  | { verdict: 'ready'; kernel: string; reasons: string[] }
  | { verdict: 'ready-after-reboot'; kernel: string; entry: string | null; reasons: string[] }
  | { verdict: 'needs-kernel'; install: string; reasons: string[] }
  | { verdict: 'shim'; kernel: string; reasons: string[] }
  | { verdict: 'blocked'; reasons: string[] }
  | { verdict: 'unknown'; reasons: string[] };

/** A boot entry's kernel as found in the guest: its guest path and the kernel verdict, or why not. */
export type EntryKernel =
  | { path: string; result: KernelResult }
  | { path: string | null; missing: string }
  /** Not read: the default entry's kernel already boots PVH. */
  | { path: string; skipped: true };

export type VerdictInput = {
  /** The xl config passes PCI devices through (`pci = [...]`). */
  pci: boolean;
  /** Why the guest's filesystems could not be read at all, or null. */
  unreadable: string | null;
  /** Why /boot could not be read (I/O error, corrupt directory), or null. */
  bootUnreadable: string | null;
  menu: BootMenu | null;
  /** One per menu entry (same order); null for entries that boot no Linux kernel. */
  entryKernels: (EntryKernel | null)[];
  /** Kernels installed in /boot, whether or not the menu names them. */
  installed: { path: string; result: KernelResult }[];
  os: OsInfo | null;
  /** A kernel given by the xl config (`kernel = "..."` in dom0), which overrides the guest's menu. */
  directKernel: { path: string; result: KernelResult } | null;
  /** What the command line the guest boots with says about the console (null: not known). */
  console?: ConsoleFacts | null;
};

const pvhOk = (r: KernelResult) => r.error === null && r.pvh.capable;
const why = (r: KernelResult) => (r.error === null ? r.pvh.reason : `it could not be read: ${r.error}`);

/**
 * Decides the guest's verdict.
 * @example
 * guestVerdict({ pci: false, unreadable: null, bootUnreadable: null, menu, entryKernels, installed, os, directKernel: null })
 * // => { verdict: 'ready', kernel: '/boot/vmlinuz-6.1.0-56-amd64', reasons: ['the default entry "Debian GNU/Linux" boots /boot/vmlinuz-6.1.0-56-amd64, which has the PVH entry point'] }
 */
export function guestVerdict(v: VerdictInput): Verdict {
  const d = decide(v);
  // A guest that will boot through the PVH entry without console=hvc0 has a silent console after
  // the switch: say so, and how to fix it, beside the verdict (the shim boots the PV entry, which
  // picks hvc0 itself; blocked and unknown guests are not switched).
  const c = v.console ?? null;
  if (c !== null && !c.hvc0 && (d.verdict === 'ready' || d.verdict === 'ready-after-reboot' || d.verdict === 'needs-kernel')) d.reasons.push(c.note);
  return d;
}

function decide(v: VerdictInput): Verdict {
  if (v.pci) {
    return { verdict: 'blocked', reasons: ['the guest uses PCI passthrough, which Xen does not support for PVH guests yet'] };
  }
  if (v.directKernel !== null) {
    const { path, result } = v.directKernel;
    if (pvhOk(result)) return { verdict: 'ready', kernel: path, reasons: [`the host boots the guest with ${path}, which has the PVH entry point`] };
    // The guest's own kernels do not matter here: the host's kernel= line does.
    const hostOnly = { ...v, menu: null, entryKernels: [], installed: [] };
    const f = fallback(hostOnly, path, result, `the host boots the guest with ${path}, which cannot boot as PVH: ${why(result)}`);
    if (f.verdict === 'needs-kernel') f.reasons.push('or point kernel= in the xl config at a kernel with the PVH entry point');
    return f;
  }
  if (v.unreadable !== null) return { verdict: 'unknown', reasons: [v.unreadable] };
  if (v.bootUnreadable !== null) return { verdict: 'blocked', reasons: [`/boot cannot be read: ${v.bootUnreadable}`] };
  if (v.menu === null) {
    const any = v.installed.find((k) => pvhOk(k.result));
    return {
      verdict: 'unknown',
      reasons: [
        'no boot menu was found (no grub.cfg, menu.lst or extlinux.conf), so it is not known which kernel the guest boots',
        ...(any ? [`${any.path} in /boot could boot as PVH`] : []),
      ],
    };
  }
  const d = v.menu.default;
  if (!d.decided) {
    const linux = v.entryKernels.filter((k): k is EntryKernel => k !== null);
    if (linux.length > 0 && linux.every((k) => 'result' in k && pvhOk(k.result))) {
      const k = linux[0] as { path: string; result: KernelResult };
      return { verdict: 'ready', kernel: k.path, reasons: [`the default entry cannot be decided (${d.reason}), but every kernel in the menu has the PVH entry point`] };
    }
    return { verdict: 'unknown', reasons: [`the default boot entry cannot be decided: ${d.reason}`] };
  }
  const entry = v.menu.entries[d.index]!;
  const k = v.entryKernels[d.index] ?? null;
  const title = `"${entry.title}"`;
  if (k === null) {
    return { verdict: 'unknown', reasons: [`the default entry ${title} does not boot a Linux kernel (${entry.type})`] };
  }
  if ('missing' in k) {
    return { verdict: 'blocked', reasons: [`the default entry ${title} names ${entry.kernel ?? 'no kernel'}, which ${k.missing}`] };
  }
  if ('skipped' in k) return { verdict: 'unknown', reasons: [`the default entry ${title}'s kernel ${k.path} was not read`] };
  if (pvhOk(k.result)) {
    return { verdict: 'ready', kernel: k.path, reasons: [`the default entry ${title} boots ${k.path}, which has the PVH entry point`] };
  }
  return fallback(v, k.path, k.result, `the default entry ${title} boots ${k.path}, which cannot boot as PVH: ${why(k.result)}`);
}

function fallback(v: VerdictInput, path: string, result: KernelResult, first: string): Verdict {
  const reasons = [first];
  // Another installed kernel that boots PVH: name the menu entry that boots it, if any.
  const inMenu = v.entryKernels.findIndex((k) => k !== null && 'result' in k && pvhOk(k.result));
  if (inMenu >= 0 && v.menu !== null) {
    const e = v.menu.entries[inMenu]!;
    const k = v.entryKernels[inMenu] as { path: string };
    const name = [...e.submenu, e.title].join(' > ');
    return {
      verdict: 'ready-after-reboot',
      kernel: k.path,
      entry: name,
      reasons: [...reasons, `${k.path} is installed and has the PVH entry point: make "${name}" the default entry (for example grub-set-default) and reboot once before the switch`],
    };
  }
  const other = v.installed.find((k) => pvhOk(k.result));
  if (other !== undefined) {
    return {
      verdict: 'ready-after-reboot',
      kernel: other.path,
      entry: null,
      reasons: [...reasons, `${other.path} is installed and has the PVH entry point, but no menu entry boots it: regenerate the boot menu (update-grub), make it the default and reboot once`],
    };
  }
  const arch = result.error === null ? result.arch : null;
  if (result.error === null && result.pv.capable && result.pv.abi === 'xen-3.0-x86_32p') {
    return {
      verdict: 'shim',
      kernel: path,
      reasons: [...reasons, 'it is a 32-bit PV kernel, which this host can only run inside the PV shim; the shim keeps the guest running unchanged in a PVH container', `for native PVH, install ${installHint(v.os, arch)}`],
    };
  }
  const install = installHint(v.os, arch);
  const stopgap = result.error === null && result.pv.capable ? ['until then the PV shim can run the current kernel unchanged in a PVH container'] : [];
  return { verdict: 'needs-kernel', install, reasons: [...reasons, `no installed kernel has the PVH entry point: install ${install}`, ...stopgap] };
}
