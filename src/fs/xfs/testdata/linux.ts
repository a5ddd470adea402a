/**
 * XFS images written by Linux's own XFS driver, for what mkfs.xfs's proto files cannot make: files
 * with many extents and holes (a bmbt data fork), unwritten (fallocated) extents, remote symlinks
 * with their v5 headers, a log left dirty by a crash. mkfs.xfs makes an empty v5 filesystem here;
 * guestfish (libguestfs, its appliance booted under QEMU with Debian's kernel) mounts it inside
 * the appliance and writes the files; a second copy is written to and then crashed (sysrq reboot)
 * without unmounting. Nothing is mounted on this machine. Cached by recipe in the pvhctl cache.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir, debianKernel } from '../../../debian/apt.ts';
import { libguestfsEnv } from '../../../../test/support/libguestfs.ts';
import { mkfsXfs } from './proto.ts';

const VERSION = 1;

/** What the Linux-written image holds, for the tests to check against. */
export const LINUX_XFS = {
  /** 40 chunks of text, one at each MiB of a 40 MiB file: 40 extents with holes between. */
  sparseSize: 40 * 1024 * 1024,
  sparseChunks: Array.from({ length: 40 }, (_, k) => ({ at: k * 1024 * 1024, text: `chunk-${k}` })),
  /** fallocated 4 MiB (unwritten extents) with one write in the middle. */
  preallocSize: 4 * 1024 * 1024,
  preallocWrite: { at: 2 * 1024 * 1024, text: 'middle' },
  longTarget: '/' + './'.repeat(300) + 'boot',
  manyNames: Array.from({ length: 400 }, (_, i) => `a-file-name-long-enough-to-need-a-leaf-directory-${String(i).padStart(4, '0')}`),
  crashedFile: { path: '/after-crash', text: 'written before the crash' },
};

export type LinuxXfs = { clean: string; crashed: string; kernelName: string; kernelPath: string };

/**
 * Builds (or reuses) the two Linux-written images; throws when guestfish fails.
 * @example
 * await linuxXfsImages() // => { clean: '~/.cache/pvhctl/xfs-linux/1a2b…-clean.img', crashed: '…-crashed.img', ... }
 */
export async function linuxXfsImages(): Promise<LinuxXfs> {
  const k = await debianKernel('amd64');
  const kernelName = `vmlinuz-${k.release}`;
  const L = LINUX_XFS;
  const clean = [
    'run',
    'mount /dev/sda /',
    'mkdir-p /boot/loader/entries',
    `upload ${k.vmlinuz} /boot/${kernelName}`,
    `write /boot/loader/entries/linux.conf "title Linux\\nlinux /boot/${kernelName}\\n"`,
    `ln-s /boot/${kernelName} /vmlinuz`,
    `ln-s ${L.longTarget} /longlink`,
    'touch /sparse',
    `truncate-size /sparse ${L.sparseSize}`,
    ...L.sparseChunks.map((c) => `pwrite /sparse "${c.text}" ${c.at}`),
    `fallocate64 /prealloc ${L.preallocSize}`,
    `pwrite /prealloc "${L.preallocWrite.text}" ${L.preallocWrite.at}`,
    'mkdir /many',
    ...L.manyNames.map((n) => `touch /many/${n}`),
    'sync',
    'umount-all',
  ].join('\n') + '\n';
  const crash = [
    'run',
    'mount /dev/sda /',
    `write ${L.crashedFile.path} "${L.crashedFile.text}"`,
    'sync',
    // A reboot without unmounting: the log keeps no unmount record, as after a crash.
    'debug sh "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger"',
  ].join('\n') + '\n';
  const key = createHash('sha256').update(JSON.stringify({ VERSION, clean, crash, deb: k.deb })).digest('hex').slice(0, 16);
  const dir = cacheDir('xfs-linux');
  const out = { clean: join(dir, `${key}-clean.img`), crashed: join(dir, `${key}-crashed.img`), kernelName, kernelPath: k.vmlinuz };
  if (existsSync(out.clean) && existsSync(out.crashed)) return out;
  const env = await libguestfsEnv();
  const work = mkdtempSync(join(tmpdir(), 'pvhctl-xfs-linux-'));
  try {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    const img = join(work, 'clean.img');
    mkfsXfs(img, empty, 96);
    const gf = (image: string, script: string) => spawnSync('guestfish', ['--format=raw', '-a', image], { input: script, env, encoding: 'utf8' });
    const r = gf(img, clean);
    if (r.status !== 0) throw new Error(`guestfish failed writing the XFS image: ${r.stderr.trim().split('\n')[0]}`);
    const crashed = join(work, 'crashed.img');
    copyFileSync(img, crashed);
    // guestfish reports the crash as an error ("appliance closed the connection"); the log says whether it happened.
    gf(crashed, crash);
    if (!/state: <DIRTY>/.test(execFileSync('xfs_logprint', ['-t', crashed], { encoding: 'utf8' }))) throw new Error('the crashed XFS image has a clean log');
    renameSync(img, out.clean);
    renameSync(crashed, out.crashed);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
