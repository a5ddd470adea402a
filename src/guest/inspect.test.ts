import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { debianKernel, type KernelFlavour } from '../debian/apt.ts';
import { inspectGuest, type GuestReport } from './inspect.ts';
import { guestImage } from './testdata/images.ts';
import { fixtureGuests } from './testdata/guests.ts';

const data = mkdtempSync(join(tmpdir(), 'pvhctl-guest-data-'));
after(() => rmSync(data, { recursive: true, force: true }));

let rel: Record<KernelFlavour, string>;
let guests: ReturnType<typeof fixtureGuests>;
before(async () => {
  rel = { amd64: '', 'cloud-amd64': '', '686-pae': '', '686': '' };
  for (const f of Object.keys(rel) as KernelFlavour[]) rel[f] = (await debianKernel(f)).release;
  guests = fixtureGuests(rel);
});

async function inspect(name: keyof ReturnType<typeof fixtureGuests>): Promise<GuestReport> {
  const img = await guestImage(guests[name]);
  return inspectGuest([{ path: img, vdev: null }], { dataDir: data, name });
}

const defaultKernel = (r: GuestReport) => (r.boot?.default.decided ? r.boot.entries[r.boot.default.index]!.kernelPath : null);

test('bare ext4 guest: Debian 12 amd64 → ready, hvc0, /dev/xvda1 survives, config corroborates', async () => {
  const r = await inspect('bare');
  assert.equal(r.disks[0]!.table, 'none');
  assert.equal(r.os?.id, 'debian');
  assert.equal(r.os?.source, '/etc/os-release');
  assert.equal(r.userlandArch, 'x86_64');
  assert.equal(r.boot?.loader, 'grub2');
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel.amd64}`);
  assert.equal(r.verdict.verdict, 'ready', r.verdict.reasons.join('; '));
  const k = r.kernels.find((x) => x.path === `/boot/vmlinuz-${rel.amd64}`)!;
  assert.ok(k.result.error === null && k.result.pvh.capable && k.result.pv.capable);
  assert.ok(k.config?.xenPvh && k.config.agrees);
  assert.equal(r.console?.hvc0, true);
  assert.equal(r.rootDevice.fstab?.kind, 'xen');
  assert.equal(r.rootDevice.fstab?.survives, true);
});

test('MBR with /boot on partition 1: the kernel is found on the /boot filesystem; ttyS0 console flagged', async () => {
  const r = await inspect('mbr-boot');
  assert.equal(r.disks[0]!.table, 'mbr');
  assert.deepEqual(r.mounts.map((m) => m.mountpoint), ['/boot']);
  assert.match(r.mounts[0]!.volume, /\[1\]$/);
  assert.equal(r.boot?.file, '/boot/grub/grub.cfg');
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel['cloud-amd64']}`);
  assert.equal(r.verdict.verdict, 'ready');
  assert.equal(r.console?.hvc0, false);
  assert.match(r.console!.note, /no emulated serial port/);
  assert.equal(r.rootDevice.fstab?.kind, 'uuid');
});

test('GPT guest → ready', async () => {
  const r = await inspect('gpt');
  assert.equal(r.disks[0]!.table, 'gpt');
  assert.match(r.root!, /\[2\]$/);
  assert.equal(r.verdict.verdict, 'ready');
  // A stock Debian grub.cfg (update-grub's, `quiet` only): silent under PVH, and the verdict says how to fix it.
  assert.equal(r.console?.hvc0, false);
  assert.equal(r.console?.source, 'guest-menu');
  assert.match(r.verdict.reasons.join(' '), /only with console=hvc0 on the kernel command line.*GRUB_CMDLINE_LINUX in \/etc\/default\/grub, then run update-grub/);
});

test('root in a logical partition (where pygrub finds nothing) → ready; /dev/sda5 in fstab flagged', async () => {
  const r = await inspect('logical');
  assert.match(r.root!, /\[5\]$/);
  assert.equal(r.verdict.verdict, 'ready');
  assert.equal(r.rootDevice.fstab?.survives, false);
  assert.match(r.rootDevice.fstab!.note, /xvd/);
});

test('saved_entry into a submenu picks the 686-pae kernel (pygrub would boot the 686 one) → ready', async () => {
  const r = await inspect('saved-entry');
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel['686-pae']}`);
  assert.match(r.boot!.default.decided ? r.boot!.default.reason : '', /saved_entry/);
  assert.equal(r.verdict.verdict, 'ready');
  const k = r.kernels.find((x) => x.path.endsWith(rel['686-pae']))!;
  assert.ok(k.result.error === null && k.result.arch === 'x86_32p' && !k.result.pv.capable);
});

test('only the default kernel is read when it boots PVH, unless every kernel is asked for', async () => {
  const img = await guestImage(guests['saved-entry']);
  const quick = await inspectGuest([{ path: img, vdev: null }], { dataDir: null });
  assert.deepEqual(quick.kernelsNotRead, [`/boot/vmlinuz-${rel['686']}`]);
  assert.equal(quick.kernels.length, 1);
  const all = await inspectGuest([{ path: img, vdev: null }], { dataDir: null, allKernels: true });
  assert.deepEqual(all.kernelsNotRead, []);
  assert.equal(all.kernels.length, 2);
  assert.equal(all.verdict.verdict, 'ready');
});

test('default kernel without PVH while an installed one has it → ready-after-reboot naming the entry', async () => {
  const r = await inspect('default-not-pvh');
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel['686']}`);
  assert.equal(r.verdict.verdict, 'ready-after-reboot');
  assert.ok(r.verdict.verdict === 'ready-after-reboot' && r.verdict.kernel === `/boot/vmlinuz-${rel['686-pae']}`);
  assert.match(r.verdict.reasons.join(' '), /Advanced options for Debian GNU\/Linux > Debian GNU\/Linux, with Linux .*686-pae/);
  const k686 = r.kernels.find((x) => x.path.endsWith(`-${rel['686']}`))!;
  assert.equal(k686.config?.xenPvh, false, 'config-*-686 has no CONFIG_XEN_PVH');
});

test('speculative reads (a spare core reads the next kernel meanwhile) change nothing in the report', async () => {
  // default-not-pvh: config-*-686 says no PVH, so the 686-pae kernel is read alongside and used.
  const img = await guestImage(guests['default-not-pvh']);
  const strip = (r: GuestReport) => ({ ...r, kernels: r.kernels.map((k) => ({ ...k, result: { ...k.result, file: '' } })).sort((a, b) => a.path.localeCompare(b.path)) });
  const one = await inspectGuest([{ path: img, vdev: null }], { dataDir: null });
  const two = await inspectGuest([{ path: img, vdev: null }], { dataDir: null, speculate: 1 });
  assert.deepEqual(strip(two), strip(one));
  assert.equal(two.verdict.verdict, 'ready-after-reboot');
  // Without config files nothing says whether the default boots PVH: the 686 kernel is read
  // alongside, then abandoned when the default (686-pae) proves PVH-capable, unless it finished
  // first. Either way no abandoned read shows up as a kernel error.
  const noConfig = guests['saved-entry'];
  const bare = await guestImage({ ...noConfig, name: 'saved-entry-no-config', root: Object.fromEntries(Object.entries(noConfig.root).filter(([p]) => !p.startsWith('boot/config-'))) });
  const r = await inspectGuest([{ path: bare, vdev: null }], { dataDir: null, speculate: 1 });
  assert.equal(r.verdict.verdict, 'ready');
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel['686-pae']}`);
  for (const k of r.kernels) assert.equal(k.result.error, null, `${k.path}: ${k.result.error}`);
  const k686 = `/boot/vmlinuz-${rel['686']}`;
  assert.ok(r.kernelsNotRead.includes(k686) !== r.kernels.some((k) => k.path === k686), 'the 686 kernel is either read or listed as not read');
});

test('only the 686 kernel → needs-kernel with the Debian package to install', async () => {
  const r = await inspect('only-686');
  assert.equal(r.verdict.verdict, 'needs-kernel');
  assert.ok(r.verdict.verdict === 'needs-kernel' && /linux-image-686-pae/.test(r.verdict.install));
});

test('32-bit 686-pae guest → ready (PVH only, no PV entry)', async () => {
  const r = await inspect('i386-pae');
  assert.equal(r.verdict.verdict, 'ready');
});

test('GRUB legacy menu.lst with default saved → the amd64 entry → ready', async () => {
  const r = await inspect('grub-legacy');
  assert.equal(r.boot?.loader, 'grub-legacy');
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel.amd64}`);
  assert.equal(r.verdict.verdict, 'ready');
});

test('BLS entries with saved_entry and $kernelopts → ready; RHEL-family install hint', async () => {
  const r = await inspect('bls');
  assert.equal(r.os?.id, 'rocky');
  assert.equal(r.boot?.entries.length, 2);
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel.amd64}`);
  assert.equal(r.console?.hvc0, true, '$kernelopts from grubenv carries console=hvc0');
  assert.equal(r.verdict.verdict, 'ready');
});

test('dangling and looping symlinks: the default kernel is missing → blocked; os-release loop is no crash', async () => {
  const r = await inspect('symlinks');
  assert.equal(r.os?.source, '/etc/debian_version', 'os-release loops, so the older file is used');
  assert.match(r.warnings.join(' '), /symbolic links/);
  assert.equal(r.verdict.verdict, 'blocked');
  assert.match(r.verdict.reasons.join(' '), /does not exist/);
});

test("Alpine's extlinux.conf (DEFAULT menu.c32, MENU DEFAULT virt) → the virt entry's kernel → ready, not a kernel named menu.c32", async () => {
  const r = await inspect('alpine');
  assert.equal(r.os?.id, 'alpine');
  assert.equal(r.boot?.loader, 'extlinux');
  assert.equal(r.boot?.file, '/boot/extlinux.conf');
  assert.equal(defaultKernel(r), '/boot/vmlinuz-virt');
  assert.equal(r.verdict.verdict, 'ready', r.verdict.reasons.join('; '));
  assert.equal(r.console?.hvc0, true);
});

test('a lone /boot filesystem holding only extlinux.conf or syslinux/syslinux.cfg is the boot filesystem (not "no root filesystem was found")', async () => {
  const r = await inspect('alpine-boot');
  assert.notEqual(r.root, null);
  assert.equal(r.boot?.file, '/extlinux.conf');
  assert.equal(defaultKernel(r), '/vmlinuz-virt');
  assert.equal(r.verdict.verdict, 'ready', r.verdict.reasons.join('; '));
  const s = await inspect('syslinux-boot');
  assert.equal(s.boot?.file, '/syslinux/syslinux.cfg');
  assert.equal(defaultKernel(s), `/vmlinuz-${rel.amd64}`);
  assert.equal(s.verdict.verdict, 'ready', s.verdict.reasons.join('; '));
});

test('a corrupted superblock → unknown, with the reason', async () => {
  const r = await inspect('bad-superblock');
  assert.equal(r.verdict.verdict, 'unknown');
  assert.match(r.verdict.reasons.join(' '), /corrupt ext4 superblock: blocks per group 0/);
});

test('the verdict cache: a second guest with the same kernel bytes reuses the verdict', async () => {
  const a = await inspect('gpt');
  const b = await inspect('bare');
  const ka = a.kernels.find((k) => k.path.endsWith(rel.amd64))!;
  const kb = b.kernels.find((k) => k.path.endsWith(rel.amd64))!;
  assert.equal(kb.cached, true);
  // A second look at the same disk does not even read the kernel: its fingerprint maps to the sha256.
  const again = await inspect('bare');
  assert.equal(again.kernels.find((k) => k.path.endsWith(rel.amd64))!.cached, true);
  assert.ok(readdirSync(join(data, 'kernel-files')).length >= 2);
  assert.ok(ka.result.error === null && kb.result.error === null && ka.result.sha256 === kb.result.sha256);
});

test('a RHEL-family guest on XFS (/boot and / both XFS, MBR): the same BLS menu, default and verdict as on ext4', async () => {
  const ext4 = await inspect('bls');
  const r = await inspect('bls-xfs');
  assert.equal(r.disks[0]!.table, 'mbr');
  assert.deepEqual(r.mounts.map((m) => m.mountpoint), ['/boot']);
  assert.match(r.mounts[0]!.volume, /\[1\]$/);
  assert.match(r.root!, /\[2\]$/);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.os?.id, 'rocky');
  assert.equal(r.boot?.loader, ext4.boot?.loader);
  assert.equal(r.boot?.file, '/boot/grub2/grub.cfg');
  const entries = (g: GuestReport) => g.boot!.entries.map((e) => ({ title: e.title, kernelPath: e.kernelPath }));
  assert.deepEqual(entries(r), entries(ext4));
  assert.equal(r.boot?.entries.length, 2);
  assert.deepEqual(r.boot?.default, ext4.boot?.default);
  assert.equal(defaultKernel(r), `/boot/vmlinuz-${rel.amd64}`);
  assert.equal(r.console?.hvc0, true, '$kernelopts from the XFS /boot grubenv carries console=hvc0');
  assert.equal(r.rootDevice.fstab?.kind, 'uuid');
  assert.equal(r.verdict.verdict, 'ready', r.verdict.reasons.join('; '));
  assert.equal(r.verdict.verdict, ext4.verdict.verdict);
  // The kernel was read from XFS byte for byte: the same sha256 as the ext4 guest's copy.
  const sha = (g: GuestReport) => {
    const k = g.kernels.find((x) => x.path === `/boot/vmlinuz-${rel.amd64}`)!.result;
    return k.error === null ? k.sha256 : null;
  };
  assert.match(sha(r) ?? "", /^[0-9a-f]{64}$/);
  assert.equal(sha(r), sha(ext4));
});
