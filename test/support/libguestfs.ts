/**
 * libguestfs (guestfish, virt-inspector) with a real Debian kernel for its appliance: this
 * container has no kernel or modules in /boot, and no usable KVM, so the appliance runs under
 * QEMU TCG with the same Debian 12 kernel the fixtures use. Used by the benchmark (virt-inspector
 * as a peer) and by tests that need a filesystem written by Linux itself (XFS written by the
 * kernel's own driver, with nothing mounted on this machine).
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { debianKernel, unpackDeb } from '../../src/debian/apt.ts';

/**
 * True when guestfish is installed (libguestfs-tools; not in scripts/apt-packages.txt).
 * @example
 * hasGuestfish() // => true after `apt-get install libguestfs-tools`
 */
export function hasGuestfish(): boolean {
  return spawnSync('sh', ['-c', 'command -v guestfish'], { encoding: 'utf8' }).status === 0;
}

/**
 * The environment that makes libguestfs boot its appliance with Debian's amd64 kernel under TCG.
 * @example
 * spawnSync('virt-inspector', ['--format=raw', '-a', img], { env: await libguestfsEnv() })
 */
export async function libguestfsEnv(): Promise<NodeJS.ProcessEnv> {
  const k = await debianKernel('amd64');
  const dir = await unpackDeb(k.deb);
  const modules = join(dir, 'lib/modules', k.release);
  if (!existsSync(join(modules, 'modules.dep'))) execFileSync('depmod', ['-b', dir, k.release]);
  // supermin lstat()s /lib/modules even when SUPERMIN_MODULES points elsewhere.
  mkdirSync('/lib/modules', { recursive: true });
  return {
    ...process.env,
    SUPERMIN_KERNEL: join(dir, 'boot', `vmlinuz-${k.release}`),
    SUPERMIN_MODULES: modules,
    SUPERMIN_KERNEL_VERSION: k.release,
    LIBGUESTFS_BACKEND: 'direct',
    LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg',
  };
}
