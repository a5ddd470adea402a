/**
 * Recognises what xl, libxl, lvcreate and cp said when they failed (their stderr), once, where
 * their output is read: the rest of pvhctl gets a DriverFailure code and never reads the text.
 * The patterns are the tools' own messages: libxl_dom.c and libxc's xc_dom_core.c
 * ("no loader found", "image not capable of booting inside a HVM container"), libxl_create.c
 * ("domain with name ... already exists"), LVM2's lvcreate, coreutils' cp.
 */
import type { DriverFailure } from '../driver.ts';

const PATTERNS: [RegExp, DriverFailure][] = [
  [/not capable of booting inside a HVM container|no XEN_ELFNOTE_PHYS32_ENTRY|not a PVH kernel/, 'no-pvh-entry'],
  [/no loader found|not a Xen PV kernel/, 'no-pv-loader'],
  [/x86_32p not supported|x86_32 not supported/, 'abi-unsupported'],
  [/hvm not supported/, 'no-hvm'],
  [/passthrough not yet supported/, 'pci-passthrough'],
  [/[Dd]omain .*already exists/, 'domain-exists'],
  [/Required device-mapper target\(s\) not detected/, 'no-dm-snapshot'],
  [/insufficient free space/, 'vg-full'],
  [/--reflink.*(Operation not supported|Invalid cross-device link|Inappropriate ioctl)/is, 'no-reflink'],
];

/**
 * The failure a tool's error output names, or null when it is none pvhctl tells apart.
 * @example
 * xlFailure('xc_dom_guest_type: image not capable of booting inside a HVM container') // => 'no-pvh-entry'
 * xlFailure('config parsing error near `x') // => null
 */
export function xlFailure(stderr: string): DriverFailure | null {
  const text = stderr.length > 16_384 ? stderr.slice(-16_384) : stderr;
  for (const [re, failure] of PATTERNS) if (re.test(text)) return failure;
  return null;
}
