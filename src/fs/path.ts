/**
 * Path resolution inside a guest: one root filesystem plus mounts (a separate /boot), symlinks
 * followed the way the guest's kernel would, but always inside the guest: an absolute target
 * starts again at the guest's root, `..` never climbs above it, and at most MAX_SYMLINKS links are
 * followed per lookup (Linux's limit is 40), so a loop ends with ELOOP instead of hanging.
 */
import { OutOfBounds } from '../disk/source.ts';
import { type Filesystem, FsError, type FsNode } from './types.ts';

/**
 * Errors that hostile filesystem bytes can raise: reported as EIO, never thrown further.
 * @example
 * isDataError(new FsError('x: bad extent header magic')) // => true
 */
export function isDataError(err: unknown): err is Error {
  return err instanceof FsError || err instanceof OutOfBounds || err instanceof RangeError;
}

export const MAX_SYMLINKS = 40;
/** Components walked per lookup, counting those that symlinks add. */
const MAX_COMPONENTS = 4096;

export type Mount = { mountpoint: string; fs: Filesystem };

/** A resolved path: the filesystem that holds it, its node, and its canonical guest path. */
export type Resolved =
  | { ok: true; fs: Filesystem; node: FsNode; path: string }
  | { ok: false; error: 'ENOENT' | 'ENOTDIR' | 'ELOOP' | 'EIO'; path: string; message: string };

/** The guest as the path walker sees it: `/` and the other mounts, longest match wins. */
export type GuestTree = { root: Filesystem; mounts: Mount[] };

function split(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves `path` in the guest tree. With `follow` false, a final symlink is returned itself (lstat).
 * @example
 * resolve({ root: rootFs, mounts: [{ mountpoint: '/boot', fs: bootFs }] }, '/boot/vmlinuz')
 * // => { ok: true, fs: bootFs, node: { id: 12, kind: 'file', size: 8123456 }, path: '/boot/vmlinuz-6.1.0-56-amd64' }
 */
export function resolve(tree: GuestTree, path: string, follow = true): Resolved {
  type Step = { fs: Filesystem; node: FsNode; name: string };
  const mountAt = (components: string[]): Filesystem | null => {
    const p = '/' + components.join('/');
    const m = tree.mounts.find((x) => x.mountpoint.replace(/\/+$/, '') === p);
    return m?.fs ?? null;
  };
  const rootStep = (): Step => ({ fs: tree.root, node: tree.root.root(), name: '' });
  let stack: Step[] = [];
  const here = () => stack[stack.length - 1] ?? rootStep();
  const where = () => '/' + stack.map((s) => s.name).join('/');
  let todo = split(path);
  let links = 0;
  let walked = 0;
  try {
    while (todo.length > 0) {
      if (++walked > MAX_COMPONENTS) return { ok: false, error: 'ELOOP', path, message: `${path}: too many path components` };
      const c = todo.shift()!;
      if (c === '..') {
        stack.pop();
        continue;
      }
      const cur = here();
      if (cur.node.kind !== 'dir') return { ok: false, error: 'ENOTDIR', path, message: `${where()}: not a directory` };
      // A mountpoint is entered even if the directory under it is missing or damaged.
      const mountedHere = mountAt([...stack.map((s) => s.name), c]);
      if (mountedHere !== null) {
        stack.push({ fs: mountedHere, node: mountedHere.root(), name: c });
        continue;
      }
      const found = cur.fs.lookup(cur.node, c);
      if (found === null) return { ok: false, error: 'ENOENT', path, message: `${where()}/${c}: no such file or directory` };
      const isLast = todo.length === 0;
      if (found.kind === 'symlink' && (follow || !isLast)) {
        if (++links > MAX_SYMLINKS) return { ok: false, error: 'ELOOP', path, message: `${path}: more than ${MAX_SYMLINKS} symbolic links (a loop?)` };
        const target = cur.fs.readlink(found);
        if (target === '') return { ok: false, error: 'ENOENT', path, message: `${where()}/${c}: empty symlink` };
        if (target.startsWith('/')) stack = [];
        todo = [...split(target), ...todo];
        continue;
      }
      stack.push({ fs: cur.fs, node: found, name: c });
    }
  } catch (err) {
    if (isDataError(err)) return { ok: false, error: 'EIO', path, message: err.message };
    throw err;
  }
  const end = here();
  return { ok: true, fs: end.fs, node: end.node, path: where() };
}

/**
 * Reads a file by guest path, or returns the failed resolution.
 * @example
 * readPath(tree, '/etc/os-release', 1 << 20) // => { ok: true, data: Uint8Array(...), path: '/usr/lib/os-release' }
 */
export function readPath(tree: GuestTree, path: string, max: number): { ok: true; data: Uint8Array; path: string; fs: Filesystem } | Extract<Resolved, { ok: false }> {
  const r = resolve(tree, path);
  if (!r.ok) return r;
  if (r.node.kind !== 'file') return { ok: false, error: 'EIO', path, message: `${r.path}: not a regular file` };
  try {
    return { ok: true, data: r.fs.read(r.node, max), path: r.path, fs: r.fs };
  } catch (err) {
    if (isDataError(err)) return { ok: false, error: 'EIO', path, message: err.message };
    throw err;
  }
}
