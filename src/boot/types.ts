/**
 * One boot menu type for every bootloader config pvhctl reads (GRUB 2, BLS, GRUB legacy,
 * extlinux): the entries in menu order and the entry the loader would boot without a key press.
 * All strings are guest text as found: escape them (printable()) before showing them.
 */

export type Loader = 'grub2' | 'bls' | 'grub-legacy' | 'extlinux';

export type BootEntry = {
  title: string;
  /** GRUB 2 `--id` / BLS file id / extlinux LABEL; null when the entry has none. */
  id: string | null;
  /** Titles of the enclosing submenus, outermost first (GRUB 2 only). */
  submenu: string[];
  /** What the entry boots: a Linux kernel, another loader, a multiboot kernel (Xen, ...), or nothing we know. */
  type: 'linux' | 'chainloader' | 'multiboot' | 'other';
  /** Kernel path as the config writes it, device prefix like `(hd0,msdos1)` removed; null if none. */
  kernel: string | null;
  initrd: string[];
  /** Kernel command line, or null. Variables already expanded where their value was known. */
  args: string | null;
  /** True when the entry exists only if a condition pvhctl does not evaluate holds. */
  conditional: boolean;
};

/** The entry booted by default: decided (an index into `entries`) or not, always with the reason. */
export type DefaultChoice = { decided: true; index: number; reason: string } | { decided: false; reason: string };

export type BootMenu = {
  loader: Loader;
  /** Guest path of the config read. */
  file: string;
  entries: BootEntry[];
  default: DefaultChoice;
  warnings: string[];
};

/** Config files larger than this are refused (real grub.cfg files are under 100 KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Menu entries kept per config. */
export const MAX_ENTRIES = 1024;

/** Thrown for a config that cannot be parsed; the message names the file and line. */
export class BootConfigError extends Error {}
