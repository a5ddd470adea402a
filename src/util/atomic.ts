/**
 * Replacing a file so that it is never lost or half-written: the new content goes to a temporary
 * file in the same directory, is fsynced, and is renamed over the old one (rename is atomic on
 * POSIX filesystems), then the directory is fsynced so the rename itself survives a crash. The
 * previous version is kept beside it, under a name that never overwrites an older kept version.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export type ReplaceOptions = {
  /** Keep the previous version beside the file (default true). */
  keepPrevious?: boolean;
  /** Clock for the kept version's name (tests). */
  now?: () => Date;
  /**
   * The content the caller read and based its change on: if the file no longer holds it (someone
   * edited it meanwhile), nothing is replaced and an error says so.
   */
  expect?: string | Uint8Array;
  /** Called after the new content is durable and before the rename: a test seam for failures. */
  beforeRename?: () => void | Promise<void>;
};

/** The file changed between the read and the replacement (`expect` did not match): nothing was replaced. */
export class ChangedSinceRead extends Error {}

export type ReplaceResult = { file: string; kept: string | null };

/**
 * Atomically replaces `file` with `content`, keeping the previous version as
 * `FILE.pvhctl-YYYYMMDDTHHMMSSZ[.N]`. Throws (leaving `file` untouched) if any step before the
 * rename fails. The file's permission bits are carried over.
 * @example
 * await replaceFileAtomically('/etc/xen/web1.cfg', newText)
 * // => { file: '/etc/xen/web1.cfg', kept: '/etc/xen/web1.cfg.pvhctl-20261124T201500Z' }
 */
export async function replaceFileAtomically(path: string, content: string | Uint8Array, opts: ReplaceOptions = {}): Promise<ReplaceResult> {
  // Replace the file a symlink points at, not the link (/etc/xen/auto/NAME.cfg -> ../NAME.cfg).
  const file = await realpath(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return path;
    throw err;
  });
  const dir = dirname(file);
  const old = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (old !== null && !old.isFile()) throw new Error(`${file}: not a regular file`);
  const unchanged = async () => {
    if (opts.expect === undefined) return;
    const now = old === null ? null : await readFile(file);
    if (now === null || !now.equals(Buffer.from(opts.expect))) throw new ChangedSinceRead(`${file}: changed since it was read; not replaced`);
  };
  const tmp = join(dir, `.${basename(file)}.pvhctl-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let kept: string | null = null;
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, old === null ? 0o644 : old.mode & 0o7777);
    try {
      await fh.writeFile(content);
      // Keep the owner too when we can (as root); otherwise the file becomes ours.
      if (old !== null) await fh.chown(old.uid, old.gid).catch(() => {});
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (old !== null && (opts.keepPrevious ?? true)) kept = await keepPrevious(file, (opts.now ?? (() => new Date()))());
    await unchanged();
    await opts.beforeRename?.();
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    if (kept !== null) await unlink(kept).catch(() => {});
    throw err;
  }
  await syncDir(dir);
  return { file, kept };
}

/** Hard-links (or, where links are not supported, copies) the current file to a fresh kept name. */
async function keepPrevious(file: string, now: Date): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  for (let n = 0; n < 1000; n++) {
    const name = `${file}.pvhctl-${stamp}${n === 0 ? '' : `.${n}`}`;
    try {
      await link(file, name);
      return name;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw err;
      try {
        await copyFile(file, name, constants.COPYFILE_EXCL);
        const fh = await open(name, 'r+');
        await fh.sync();
        await fh.close();
        return name;
      } catch (copyErr) {
        if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw copyErr;
      }
    }
  }
  throw new Error(`${file}: too many kept versions for ${stamp}`);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
