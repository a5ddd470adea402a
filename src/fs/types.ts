/**
 * The read-only filesystem interface every filesystem reader (src/fs/ext4/, src/fs/xfs/) fills in, so
 * path resolution, mounts and the guest inspector never know which one they read. Readers work on a
 * ByteSource and bound every count and size; they throw FsError with a one-line cause.
 */

export type NodeKind = 'file' | 'dir' | 'symlink' | 'other';

/** An inode (or its equivalent), as the reader found it. */
export type FsNode = { id: number; kind: NodeKind; size: number };

export type DirEntry = { name: string; id: number };

export type Filesystem = {
  /** `ext2`, `ext3` or `ext4` (by features), or `xfs`. */
  readonly type: string;
  /** For messages: the source name, e.g. `disk.img[2]`. */
  readonly name: string;
  /** Filesystem UUID as fstab's UUID= writes it, and the label (guest-controlled). */
  readonly uuid: string | null;
  readonly label: string | null;
  /** Things a reader noticed but could read past (journal needing recovery, unknown features). */
  readonly warnings: string[];
  root(): FsNode;
  stat(id: number): FsNode;
  /** The entry `name` in directory `dir`, or null when there is none. */
  lookup(dir: FsNode, name: string): FsNode | null;
  list(dir: FsNode): DirEntry[];
  /** The whole content of a regular file (or symlink), refused when larger than `max` bytes. */
  read(node: FsNode, max: number): Uint8Array;
  readlink(node: FsNode): string;
  /**
   * What identifies this version of a file on this filesystem (inode number, generation, size,
   * change times), for caches that would otherwise read and hash the file; null if unknown.
   */
  fingerprint(node: FsNode): string | null;
};

/** A problem in the filesystem's own structures; the message names the filesystem and the place. */
export class FsError extends Error {}
