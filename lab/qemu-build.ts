/**
 * The lab's QEMU: Debian 12's own qemu 7.2 source package (the installed qemu-system-x86's
 * version, fetched and verified by apt) with one fix, lab/qemu/pae-pdpte-accessed.patch, without
 * which Xen cannot run a 32-bit PAE guest as PVH under TCG (the patch's header says why). Built
 * once by lab/qemu/build.sh (about 2 minutes on 2 cores) and cached by the source version and the
 * build files; the firmware (SeaBIOS, option ROMs) is the installed packages'.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir } from '../src/debian/apt.ts';
import { withLock } from './proc.ts';

const run = promisify(execFile);
const DIR = join(dirname(fileURLToPath(import.meta.url)), 'qemu');
const FILES = ['build.sh', 'pae-pdpte-accessed.patch'];

/** Where the installed Debian packages keep QEMU's firmware, for `-L`. */
export const FIRMWARE_DIRS = ['/usr/share/qemu', '/usr/share/seabios'];

/**
 * The patched qemu-system-x86_64, built if needed. `log` gets a line when a build starts.
 * @example
 * await labQemu() // => '~/.cache/pvhctl/lab/qemu/5d41…/qemu-system-x86_64'
 */
export async function labQemu(log: (line: string) => void = () => {}): Promise<string> {
  const { stdout: version } = await run('dpkg-query', ['-W', '-f', '${source:Version}', 'qemu-system-x86']).catch(() => {
    throw new Error('qemu-system-x86 is not installed: apt-get install qemu-system-x86 (see scripts/apt-packages.txt)');
  });
  const h = createHash('sha256').update(version);
  for (const f of FILES) h.update(`\n${f}\n`).update(readFileSync(join(DIR, f)));
  const out = cacheDir('lab', 'qemu', h.digest('hex').slice(0, 16));
  const binary = join(out, 'qemu-system-x86_64');
  if (!existsSync(binary)) {
    await withLock(join(cacheDir('lab'), 'qemu.lock'), async () => {
      if (existsSync(binary)) return;
      log(`building QEMU ${version} with the lab's PAE fix in ${out} (about 2 minutes)`);
      await run('bash', [join(DIR, 'build.sh'), out], { maxBuffer: 16 << 20 }).catch((e: { stderr?: string; message: string }) => {
        throw new Error(`building the lab's QEMU failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-5).join(' | ')}`);
      });
    });
  }
  return binary;
}
