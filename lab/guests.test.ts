import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEBIAN_GUESTS, DEBIAN_I386, firstBootConfig, labDebianGuests, MSG_NO_ABI, dataDiskBytes, findCmdline, FREE_EXTENTS, diskLayout, extentOffset, findMarker, grubConfig, GUESTS, VG, xlConfig } from './guests.ts';

const releases = { amd64: '6.1.0-56-amd64', '686-pae': '6.1.0-50-686-pae' };

test('guest volumes are laid out back to back after the 1 MiB LVM header', () => {
  const layout = diskLayout(GUESTS);
  assert.equal(layout.length, GUESTS.length);
  layout.forEach((l, i) => {
    assert.equal(l.count, 8);
    assert.equal(l.start, i * 8);
  });
  assert.equal(extentOffset(0), 1 << 20);
  assert.equal(extentOffset(8), (1 + 32) << 20);
  // The guest volumes, then FREE_EXTENTS of 4 MiB left free for rehearsal snapshots.
  assert.equal(dataDiskBytes(layout), (1 + 32 * GUESTS.length + 4 * FREE_EXTENTS) << 20);
  assert.equal(dataDiskBytes([]), (1 + 4 * FREE_EXTENTS) << 20);
  assert.ok(FREE_EXTENTS >= 8, 'room for at least one lab guest snapshot (8 extents)');
});

test('a Debian system has a disk of its own size after the marker guests; sizes must be whole extents', () => {
  const layout = diskLayout([...GUESTS, { name: 'deb12-amd64', mib: 548 }]);
  assert.deepEqual(layout.at(-1), { name: 'deb12-amd64', start: 8 * GUESTS.length, count: 137 });
  assert.equal(dataDiskBytes(layout), (1 + 32 * GUESTS.length + 548 + 4 * FREE_EXTENTS) << 20);
  assert.throws(() => diskLayout([{ name: 'x', mib: 30 }]), /x: disk of 30 MiB is not a whole number of 4 MiB extents/);
  assert.throws(() => diskLayout([{ name: 'x', mib: 0 }]), /not a whole number/);
  // A Debian snapshot (pvhctl's minimum CoW, 256 MiB = 64 extents) and eight marker ones fit at once.
  assert.ok(FREE_EXTENTS >= 64 + 8 * 8);
});

test('the Debian guests boot through PV GRUB as shipped, with their own grub.cfg and more memory for systemd', () => {
  for (const g of DEBIAN_GUESTS) {
    const cfg = xlConfig(g, releases);
    assert.match(cfg, /^kernel = "\/usr\/lib\/grub-xen\/grub-x86_64-xen\.bin"$/m);
    assert.match(cfg, /^memory = 256$/m);
    assert.match(cfg, /^type = "pv"$/m);
    assert.doesNotMatch(cfg, /^(extra|ramdisk|root) =/m, 'the command line is the guest\'s grub.cfg\'s');
    assert.ok(cfg.includes(`disk = [ 'phy:/dev/${VG}/${g.name},xvda,w' ]`));
    assert.equal(g.kernel, 'debian');
    assert.ok(!GUESTS.some((x) => x.name === g.name));
  }
});

test('the lab has the Debian guests unless PVHCTL_LAB_DEBIAN=0; another value is refused', () => {
  assert.equal(labDebianGuests({}), DEBIAN_GUESTS);
  assert.equal(labDebianGuests({ PVHCTL_LAB_DEBIAN: '' }), DEBIAN_GUESTS);
  assert.equal(labDebianGuests({ PVHCTL_LAB_DEBIAN: '1' }), DEBIAN_GUESTS);
  assert.deepEqual(labDebianGuests({ PVHCTL_LAB_DEBIAN: '0' }), []);
  assert.throws(() => labDebianGuests({ PVHCTL_LAB_DEBIAN: 'no' }), /^Error: PVHCTL_LAB_DEBIAN must be 0 \(no Debian guests in the lab\) or 1 \(the default\), not 'no'$/);
  assert.throws(() => labDebianGuests({ PVHCTL_LAB_DEBIAN: 'x\x1b[2J'.repeat(20) }), (e: Error) => !e.message.includes('\x1b') && e.message.length < 140);
});

test('labDebianGuests has deb12-i386 only with PVHCTL_LAB_DEB_I386=1 (and the Debian guests on; the lab stage sets it where the first boot has run); another value is refused', () => {
  assert.ok(!labDebianGuests({}).includes(DEBIAN_I386), 'not in the default lab');
  assert.ok(!labDebianGuests({ PVHCTL_LAB_DEB_I386: '0' }).includes(DEBIAN_I386));
  assert.ok(!labDebianGuests({ PVHCTL_LAB_DEB_I386: '' }).includes(DEBIAN_I386));
  assert.deepEqual(labDebianGuests({ PVHCTL_LAB_DEB_I386: '1' }), [...DEBIAN_GUESTS, DEBIAN_I386]);
  assert.deepEqual(labDebianGuests({ PVHCTL_LAB_DEB_I386: '1', PVHCTL_LAB_DEBIAN: '0' }), []);
  assert.throws(() => labDebianGuests({ PVHCTL_LAB_DEB_I386: 'yes' }), /^Error: PVHCTL_LAB_DEB_I386 must be 0 \(deb12-i386 left out\) or 1 \(deb12-i386 in the lab too\), not 'yes'$/);
  assert.throws(() => labDebianGuests({ PVHCTL_LAB_DEB_I386: '\x1b[2J\n'.repeat(20) }), (e: Error) => !/[\x1b\n]/.test(e.message) && e.message.length < 140);
});

test('deb12-i386 as shipped is a 32-bit PV guest through grub-i386-xen.bin, which this Xen refuses; as PVH it boots', () => {
  const cfg = xlConfig(DEBIAN_I386, releases);
  assert.match(cfg, /^type = "pv"$/m);
  assert.match(cfg, /^kernel = "\/usr\/lib\/grub-xen\/grub-i386-xen\.bin"$/m);
  assert.doesNotMatch(cfg, /^(extra|ramdisk|root) =/m);
  assert.ok(cfg.includes(`disk = [ 'phy:/dev/${VG}/deb12-i386,xvda,w' ]`));
  assert.equal(DEBIAN_I386.arch, 'x86_32');
  assert.deepEqual(DEBIAN_I386.expect, { shipped: { kind: 'fails', message: MSG_NO_ABI }, asPvh: { kind: 'marker', guestType: 'PVH' } });
});

test('the first boot of deb12-i386 is PVH with the lab\'s 686-pae kernel and first-boot initramfs from dom0, on its own LV', () => {
  const cfg = firstBootConfig(DEBIAN_I386, releases);
  assert.equal(cfg, [
    '# pvhctl lab: first boot of deb12-i386 (configures its unpacked packages, then powers off)',
    'name = "deb12-i386"', 'type = "pvh"', 'kernel = "/var/lib/xen/images/deb12-i386/vmlinuz-6.1.0-50-686-pae"',
    'ramdisk = "/var/lib/xen/images/deb12-i386/initrd-first-boot.img"', 'extra = "console=hvc0"', 'memory = 512', 'vcpus = 1',
    `disk = [ 'phy:/dev/${VG}/deb12-i386,xvda,w' ]`, 'on_reboot = "destroy"', 'on_crash = "destroy"', '',
  ].join('\n'));
  assert.throws(() => firstBootConfig(DEBIAN_GUESTS[0]!, releases), /deb12-amd64: only a 32-bit Debian system has a first boot/);
});

test('every xl config names its guest, its LVM volume as phy: and its boot path', () => {
  for (const g of GUESTS) {
    const cfg = xlConfig(g, releases);
    assert.match(cfg, new RegExp(`^name = "${g.name}"$`, 'm'));
    assert.match(cfg, new RegExp(`^type = "${g.type}"$`, 'm'));
    assert.ok(cfg.includes(`disk = [ 'phy:/dev/${VG}/${g.name},xvda,w' ]`));
    assert.ok(cfg.endsWith('\n'), 'xl needs the last line ended');
    assert.doesNotMatch(cfg, /[A-Z]+ = /, 'xl keys are lower case');
    if (g.boot.kind === 'grub') assert.match(cfg, /^kernel = "\/usr\/lib\/grub-xen\/grub-.*\.bin"$/m);
    else assert.match(cfg, /^ramdisk = "\/var\/lib\/xen\/images\//m);
    assert.equal(/^pvshim = 1$/m.test(cfg), g.pvshim);
  }
  const pae = xlConfig(GUESTS.find((g) => g.name === 'pae32')!, releases);
  assert.match(pae, /grub-i386-xen\.bin/);
  assert.throws(() => xlConfig({ ...GUESTS[1]!, kernel: 'none' }, releases), /direct boot needs a kernel/);
});

test('grub.cfg boots the guest kernel of its width, or prints the marker when there is none', () => {
  const g64 = grubConfig(GUESTS.find((g) => g.name === 'pvgrub64')!, releases);
  assert.match(g64, /linux \/boot\/vmlinuz-6\.1\.0-56-amd64 root=\/dev\/xvda ro console=hvc0/);
  assert.match(g64, /initrd \/boot\/initrd\.img-6\.1\.0-56-amd64/);
  assert.match(grubConfig(GUESTS.find((g) => g.name === 'pae32')!, releases), /vmlinuz-6\.1\.0-50-686-pae/);
  assert.match(grubConfig(GUESTS.find((g) => g.name === 'shim32')!, releases), /^echo "PVHCTL-LAB-MARKER name=shim32 loader=grub"$/m);
});

test('findMarker reads the last marker, also behind GRUB escape sequences', () => {
  assert.deepEqual(findMarker('boot\nPVHCTL-LAB-MARKER name=a guest_type=PV disk=a kernel=k\r\n'), { name: 'a', guestType: 'PV', disk: 'a', loader: null });
  assert.deepEqual(findMarker('\x1b[1;1HPVHCTL-LAB-MARKER name=shim32 loader=grub\n'), { name: 'shim32', guestType: null, disk: null, loader: 'grub' });
  assert.equal(findMarker('PVHCTL-LAB-MARKER guest_type=PV\n')?.name, undefined);
  assert.equal(findMarker('nothing here'), null);
  const two = 'PVHCTL-LAB-MARKER name=a guest_type=PV\nPVHCTL-LAB-MARKER name=a guest_type=PVH\n';
  assert.equal(findMarker(two)?.guestType, 'PVH');
});

test('findMarker stays bounded on hostile console output', () => {
  const junk = 'x'.repeat(5 << 20) + '\nPVHCTL-LAB-MARKER name=' + 'n'.repeat(100000) + '\n';
  const m = findMarker(junk);
  assert.ok(m === null || m.name.length <= 512);
  // Random printable lines never throw and never yield a name longer than the field bound.
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    let s = '';
    for (let j = 0; j < 200; j++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s += String.fromCharCode(seed % 3 === 0 ? 10 : 32 + (seed % 95));
    }
    const r = findMarker('PVHCTL-LAB-MARKER ' + s);
    assert.ok(r === null || r.name.length <= 512);
  }
});

test('the Debian unit\'s command line is found where the getty\'s prompt shares its line, bounded, the last one', () => {
  // As the lab's console had it: the login prompt and the unit's write on hvc0 at once.
  const pv = 'PVHCTL-LAB-CMDLINE root=UUID=b11530cc-6efa-4293-b25c-25d1f9f5e55c ro quiet\r\n';
  const pvh = 'deb12-amd64 login: PVHCTL-LAB-CMDLINE BOOT_IMAGE=/boot/vmlinuz-6.1.0-57-amd64 root=UUID=b11530cc-6efa-4293-b25c-25d1f9f5e55c ro quiet\r\n';
  assert.equal(findCmdline(pv), 'root=UUID=b11530cc-6efa-4293-b25c-25d1f9f5e55c ro quiet');
  assert.equal(findCmdline(pv + pvh), 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-57-amd64 root=UUID=b11530cc-6efa-4293-b25c-25d1f9f5e55c ro quiet');
  assert.equal(findCmdline('PVHCTL-LAB-MARKER name=x guest_type=PVH\nlogin: '), null);
  assert.equal(findCmdline(`PVHCTL-LAB-CMDLINE ${'a'.repeat(10_000)}`)?.length, 1024);
  assert.equal(findCmdline(`PVHCTL-LAB-CMDLINE ro\n${'x'.repeat(70_000)}`), null, 'only the last 64 KiB are read');
});
