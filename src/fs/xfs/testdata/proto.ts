/**
 * Real XFS images for tests: `mkfs.xfs -p PROTOFILE` populated from a directory tree (the proto
 * format of mkfs.xfs(8): one line a file, directory or symlink, `$` ends a directory), written
 * into an image file. Nothing is mounted and no loop device is used.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The proto file text for a directory tree (regular files, directories and symlinks; names and
 * symlink targets without white space, as the format is space-separated).
 * @example
 * protoFile('/tmp/tree') // => '/dev/null\n0 0\nd--755 0 0\netc d--755 0 0\n...\n$\n$\n'
 */
export function protoFile(dir: string): string {
  const lines = ['/dev/null', '0 0', 'd--755 0 0'];
  const walk = (d: string, depth: number) => {
    for (const n of readdirSync(d).sort()) {
      if (/[\s:$]/.test(n) || n === '') throw new Error(`${join(d, n)}: a name the proto format cannot hold`);
      const p = join(d, n);
      const st = lstatSync(p);
      const pad = ' '.repeat(depth);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(p);
        if (/\s/.test(target)) throw new Error(`${p}: a symlink target the proto format cannot hold`);
        lines.push(`${pad}${n} l--777 0 0 ${target}`);
      } else if (st.isDirectory()) {
        lines.push(`${pad}${n} d--755 0 0`);
        walk(p, depth + 1);
        lines.push(`${pad}$`);
      } else if (st.isFile()) {
        if (/\s/.test(p)) throw new Error(`${p}: a path the proto format cannot hold`);
        lines.push(`${pad}${n} ---${(st.mode & 0o777).toString(8).padStart(3, '0')} 0 0 ${p}`);
      }
    }
  };
  walk(dir, 1);
  lines.push('$');
  return lines.join('\n') + '\n';
}

/**
 * Makes an XFS image of `sizeMiB` from directory `dir` with mkfs.xfs (extra options in `args`).
 * mkfs.xfs refuses filesystems under 300 MB except under fstests; its environment variables
 * (TEST_DIR, TEST_DEV, QA_CHECK_FS) lift that check, which keeps fuzzed images small. The
 * on-disk format is the same.
 * @example
 * mkfsXfs('/tmp/boot.img', '/tmp/boot-tree', 64, ['-m', 'uuid=…']) // writes /tmp/boot.img
 */
export function mkfsXfs(img: string, dir: string, sizeMiB: number, args: string[] = []): void {
  const proto = `${img}.proto`;
  writeFileSync(proto, protoFile(dir));
  rmSync(img, { force: true });
  writeFileSync(img, '');
  truncateSync(img, sizeMiB * 1024 * 1024);
  try {
    execFileSync('mkfs.xfs', ['-q', '-f', ...args, '-p', proto, img], {
      env: { ...process.env, TEST_DIR: '/nonexistent', TEST_DEV: img, QA_CHECK_FS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    rmSync(proto, { force: true });
  }
}
