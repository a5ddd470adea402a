/**
 * The fleet's inspector on real data: a direct kernel read through the xl driver's runner (real
 * Debian kernels), and GRUB-booted guests whose real ext4 disk images are copied through the
 * runner (as from a remote dom0) and inspected in a contained child process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianKernel, type KernelFlavour } from '../debian/apt.ts';
import { xlDriver } from '../drivers/xl/driver.ts';
import { localRunner } from '../drivers/xl/local.ts';
import { guestImage } from '../guest/testdata/images.ts';
import { fixtureGuests } from '../guest/testdata/guests.ts';
import { xlInspector } from './inspect.ts';
import type { ConfigFacts } from './seams.ts';
import { allowed } from './policy.ts';
import { becoming } from './become.ts';
import { decodeVerdict, encodeVerdict } from './stored-verdict.ts';

const data = mkdtempSync(join(tmpdir(), 'pvhctl-fleet-inspect-'));
after(() => rmSync(data, { recursive: true, force: true }));
let rel: Record<KernelFlavour, string>;
let vmlinuz: Record<KernelFlavour, string>;
before(async () => {
  rel = { amd64: '', 'cloud-amd64': '', '686-pae': '', '686': '' };
  vmlinuz = { ...rel };
  for (const f of Object.keys(rel) as KernelFlavour[]) {
    const k = await debianKernel(f);
    rel[f] = k.release;
    vmlinuz[f] = k.vmlinuz;
  }
});

const facts = (over: Partial<ConfigFacts>): ConfigFacts => ({ name: 'g', type: 'pv', kernel: null, ramdisk: null, bootloader: null, pci: false, disks: [], ...over });
const debian = { xenCaps: ['xen-3.0-x86_64', 'hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64'], virtCaps: ['pv', 'hvm', 'hap'], role: 'pv-pvh' as const };

test('direct kernels from dom0: amd64 → PV and PVH; 686-pae → PVH only (32-bit PV impossible on Debian 12 Xen); 686 → neither', async () => {
  const inspect = xlInspector(xlDriver('local', localRunner()), { local: false, dataDir: data });
  const amd = await inspect({ hostName: 'h', guestName: 'g', configPath: '/etc/xen/g.cfg', facts: facts({ kernel: vmlinuz.amd64 }) });
  assert.equal(amd.source, 'kernel');
  assert.ok(amd.pv.capable && amd.pvh.capable);
  assert.equal(amd.pv.abi, 'xen-3.0-x86_64');
  assert.equal(amd.kernelVersion, rel.amd64);
  const pae = await inspect({ hostName: 'h', guestName: 'g', configPath: '/etc/xen/g.cfg', facts: facts({ kernel: vmlinuz['686-pae'] }) });
  assert.ok(!pae.pv.capable && pae.pvh.capable);
  assert.equal(pae.arch, 'x86_32p');
  assert.deepEqual(allowed('pvh', debian, pae, null), { ok: true });
  assert.equal(allowed('pv', debian, pae, null).ok, false);
  const none = await inspect({ hostName: 'h', guestName: 'g', configPath: '/etc/xen/g.cfg', facts: facts({ kernel: vmlinuz['686'] }) });
  assert.ok(!none.pv.capable && !none.pvh.capable);
  const missing = await inspect({ hostName: 'h', guestName: 'g', configPath: '/etc/xen/g.cfg', facts: facts({ kernel: '/boot/no-such-kernel' }) });
  assert.equal(missing.source, 'unknown');
});

test('a direct kernel is judged in a contained child, not by pvhctl itself: with no user to contain it as, it is not judged at all', () => {
  const here = (p: string) => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));
  const script = join(data, 'direct.ts');
  writeFileSync(
    script,
    `import { xlDriver } from ${here('../drivers/xl/driver.ts')};
import { localRunner } from ${here('../drivers/xl/local.ts')};
import { xlInspector } from ${here('./inspect.ts')};
const inspect = xlInspector(xlDriver('local', localRunner()), { local: false, dataDir: null });
const facts = { name: 'g', type: 'pv', kernel: process.argv[2], ramdisk: null, bootloader: null, pci: false, disks: [] };
process.stdout.write(JSON.stringify(await inspect({ hostName: 'h', guestName: 'g', configPath: '/etc/xen/g.cfg', facts })));`,
  );
  const run = (user: string) =>
    JSON.parse(execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', script, vmlinuz.amd64], { env: { PATH: process.env.PATH, PVHCTL_INSPECT_USER: user }, encoding: 'utf8' })) as {
      source: string;
      pvh: { capable: boolean; reason: string };
    };
  assert.equal(run('nobody').pvh.capable, true);
  const ghost = run('ghost');
  assert.equal(ghost.source, 'unknown');
  assert.match(ghost.pvh.reason, /cannot contain the inspection: PVHCTL_INSPECT_USER: no user "ghost"/);
});

test('GRUB-booted guests: their disks are copied through the runner and inspected', async () => {
  const guests = fixtureGuests(rel);
  const inspect = xlInspector(xlDriver('local', localRunner()), { local: false, dataDir: data });
  const grub = '/usr/lib/grub-xen/grub-x86_64-xen.bin';
  const bare = await inspect({ hostName: 'h', guestName: 'bare', configPath: '/etc/xen/bare.cfg', facts: facts({ kernel: grub, disks: [{ path: await guestImage(guests.bare), vdev: 'xvda' }] }) });
  assert.equal(bare.source, 'disk');
  assert.ok(bare.pvh.capable && bare.pv.capable, bare.pvh.reason);
  assert.equal(bare.kernelVersion, rel.amd64);
  const only686 = await inspect({ hostName: 'h', guestName: 'only-686', configPath: '/etc/xen/x.cfg', facts: facts({ kernel: grub, disks: [{ path: await guestImage(guests['only-686']), vdev: 'xvda' }] }) });
  assert.equal(only686.source, 'disk');
  assert.ok(!only686.pvh.capable && !only686.pv.capable);
  // The whole inspection verdict survives the store: what to install, and which kernel to reboot into.
  const stored686 = decodeVerdict(encodeVerdict(only686));
  assert.equal(stored686?.inspection?.verdict, 'needs-kernel');
  // And the distribution its os-release names, for the customer's steps.
  assert.deepEqual(stored686?.os, { id: 'debian', idLike: [] });
  // A stored distribution that is not an os-release ID is not read back.
  assert.equal(decodeVerdict(JSON.stringify({ ...JSON.parse(encodeVerdict(only686)), os: { id: 'Debian"\n<b>', idLike: [] } }))?.os, null);
  const next686 = becoming(stored686);
  assert.ok(next686.can === 'none' && next686.next?.kind === 'install-kernel' && /linux-image-686-pae/.test(next686.next.install), JSON.stringify(next686));
  const notPvh = await inspect({ hostName: 'h', guestName: 'default-not-pvh', configPath: '/etc/xen/x.cfg', facts: facts({ kernel: grub, disks: [{ path: await guestImage(guests['default-not-pvh']), vdev: 'xvda' }] }) });
  const reboot = becoming(decodeVerdict(encodeVerdict(notPvh)));
  assert.ok(reboot.can !== 'pvh' && 'next' in reboot && reboot.next?.kind === 'reboot-into', JSON.stringify(reboot));
  // A minimal guest disk as the lab's: no /etc/fstab or os-release, just /boot with GRUB's config.
  const minimal = await guestImage({
    name: 'minimal',
    layout: 'bare',
    rootUuid: '3b0c5f5e-8d7e-4e43-9b1a-2c3d4e5f6a7b',
    root: {
      'etc/lab-disk': 'minimal\n',
      [`boot/vmlinuz-${rel.amd64}`]: { kernel: 'amd64' },
      'boot/grub/grub.cfg': `set timeout=0\nset default=0\nmenuentry 'Debian' {\n\tlinux /boot/vmlinuz-${rel.amd64} root=/dev/xvda ro console=hvc0\n}\n`,
    },
  });
  const min = await inspect({ hostName: 'h', guestName: 'minimal', configPath: '/etc/xen/m.cfg', facts: facts({ kernel: grub, disks: [{ path: minimal, vdev: 'xvda' }] }) });
  assert.equal(min.source, 'disk');
  assert.ok(min.pvh.capable, min.pvh.reason);
  const gone = await inspect({ hostName: 'h', guestName: 'x', configPath: '/etc/xen/x.cfg', facts: facts({ kernel: grub, disks: [{ path: '/dev/vg0/no-such-disk', vdev: 'xvda' }] }) });
  assert.equal(gone.source, 'unknown');
  assert.match(gone.pvh.reason, /no-such-disk/);
  assert.equal(gone.arch, 'x86_64', 'the 64-bit PV GRUB image it boots says its width');
  // the lab's shim32: type pvh, pvshim = 1, the 32-bit PV GRUB image, a disk with no kernel to judge
  const shim32 = await inspect({ hostName: 'h', guestName: 'shim32', configPath: '/etc/xen/shim32.cfg', facts: facts({ type: 'pvh-shim', kernel: '/usr/lib/grub-xen/grub-i386-xen.bin', disks: [{ path: '/dev/vg0/no-such-disk', vdev: 'xvda' }] }) });
  assert.equal(shim32.arch, 'x86_32p');
});
