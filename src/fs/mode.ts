/**
 * What every Unix filesystem reader shares: the file type bits of an inode's mode (as Linux's
 * include/uapi/linux/stat.h names them) and a UUID's text form.
 */
import type { NodeKind } from './types.ts';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/**
 * The kind of node an inode's mode says it is.
 * @example
 * nodeKind(0o100644) // => 'file'
 */
export function nodeKind(mode: number): NodeKind {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'dir';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
}

/**
 * Formats 16 bytes as fstab's UUID= and blkid write them.
 * @example
 * uuidText(new Uint8Array(16)) // => '00000000-0000-0000-0000-000000000000'
 */
export function uuidText(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
