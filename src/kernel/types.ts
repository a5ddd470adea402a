/**
 * The kernel readiness report: what Xen's domain builder would make of one kernel image.
 * Field names are stable: they are the `pvhctl kernel --json` output (documented in docs/cli.md).
 */

/** How the file holds the kernel. */
export type KernelFormat = 'bzImage' | 'elf' | 'compressed';

/** The compression of the kernel payload (`none` for a bare ELF vmlinux). */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'lzma' | 'lzo' | 'lz4' | 'zstd';

/** ELF machine and paging mode: `x86_32` is non-PAE i386, `x86_32p` i386 with PAE_MODE yes/bimodal. */
export type KernelArch = 'x86_64' | 'x86_32' | 'x86_32p';

/** The PV guest ABI Xen derives from the image (xc_dom_guest_type); a host runs it only if `xen_caps` lists it. */
export type PvAbi = 'xen-3.0-x86_64' | 'xen-3.0-x86_32p' | 'xen-3.0-x86_32' | 'xen-3.0-unknown';

/**
 * One Xen ELF note (owner `Xen`), decoded by its xen/include/public/elfnote.h name.
 * `value` is the string for string notes, `0x…` hex for numbers, and a list of hex numbers for
 * notes holding several (L1_MFN_VALID, PHYS32_RELOC, SUPPORTED_FEATURES).
 */
export type XenNote = { type: number; name: string; value: string | string[] };

export type PvVerdict =
  | { capable: true; abi: PvAbi; reason: string }
  | { capable: false; abi: PvAbi | null; reason: string; xenMessage: string | null };

export type PvhVerdict = { capable: true; reason: string } | { capable: false; reason: string; xenMessage: string | null };

/** A kernel that was read. `error` is null; every guest-derived string is as found (escape on output). */
export type KernelReport = {
  file: string;
  format: KernelFormat;
  compression: Compression;
  /** The kernel version string: the bzImage header's, else the `Linux version …` banner found in the image. */
  version: string | null;
  /** The release, the version's first word (`6.1.0-26-amd64`): names /boot/config-RELEASE and /lib/modules/RELEASE. */
  release: string | null;
  arch: KernelArch | null;
  elfClass: 32 | 64 | null;
  machine: string | null;
  /** bzImage boot protocol, e.g. "2.15" (null for other formats). */
  bootProtocol: string | null;
  notes: XenNote[];
  /** Where the notes came from: PT_NOTE segments, SHT_NOTE sections, or the legacy __xen_guest section. */
  notesFrom: 'PT_NOTE' | 'SHT_NOTE' | '__xen_guest' | null;
  pv: PvVerdict;
  pvh: PvhVerdict;
  /**
   * Uncompressed bytes the answer needed: the end of the furthest byte read (the notes sit ~24 MB
   * into a 66 MB vmlinux). Deterministic: the decompressor may have run further before it was
   * stopped, by an amount that depends on timing, and that is not counted.
   */
  bytesDecompressed: number;
  /** sha256 of the file as read, for the verdict cache. */
  sha256: string;
  error: null;
};

/** A kernel that could not be read: a one-line cause naming what was wrong. */
export type KernelFailure = { file: string; error: string };

export type KernelResult = KernelReport | KernelFailure;

/** The error of a read given up through its AbortSignal (inspectKernelBytes). */
export const ABANDONED = 'kernel read abandoned';

export function isFailure(r: KernelResult): r is KernelFailure {
  return r.error !== null;
}
