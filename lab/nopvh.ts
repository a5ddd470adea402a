/**
 * Makes the lab's "no PVH entry" kernel from a real Debian bzImage with src/kernel/repack.ts:
 * extract the vmlinux, give the Xen PHYS32_ENTRY note (type 18) an unknown type so that Xen's
 * ELF loader no longer finds it, gzip the vmlinux and put it back as the payload. Xen's PV loader
 * unpacks the payload itself (tools/libs/guest/xg_dom_bzimageloader.c), so the image still boots
 * as PV; a PVH boot fails with "image not capable of booting inside a HVM container".
 */
import { XEN_ELFNOTE } from '../src/kernel/notes.ts';
import { compressPayload, extractVmlinux, replacePayload, retypeXenNote } from '../src/kernel/repack.ts';

/** The type PHYS32_ENTRY is renamed to: unknown to every Xen, so the note is skipped. */
export const RENAMED_NOTE_TYPE = 0x7e18;

/**
 * Reads a real bzImage and returns the same kernel as a bzImage without the PVH entry.
 * @example
 * await noPvhKernel(await readFile('vmlinuz-6.1.0-56-amd64')) // => Buffer (a bzImage, gzip payload, no PHYS32_ENTRY)
 */
export async function noPvhKernel(image: Uint8Array): Promise<Buffer> {
  const { image: vmlinux, changed } = retypeXenNote(await extractVmlinux(image), XEN_ELFNOTE.PHYS32_ENTRY, RENAMED_NOTE_TYPE);
  if (changed !== 1) throw new Error(`expected one PHYS32_ENTRY note, found ${changed}`);
  return replacePayload(image, await compressPayload(vmlinux, 'gzip'));
}
