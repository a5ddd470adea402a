import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestFacts, MAX_CONFIG, PV_GRUB_IMAGE } from './facts.ts';

const b = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

test('type by prefix and builder, shim, kernel, disks through the disk spec parser, pci', () => {
  const f = guestFacts(b('name = "web"\nbuilder = "generic"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\ndisk = [ "phy:/dev/vg0/web,xvda,w", "format=raw, vdev=xvdb, target=/srv/a,b.img" ]\n'), 'web.cfg');
  assert.ok(f.ok);
  assert.equal(f.facts.name, 'web');
  assert.equal(f.facts.type, 'pv');
  assert.deepEqual(f.facts.disks, [{ path: '/dev/vg0/web', vdev: 'xvda', format: 'raw' }, { path: '/srv/a,b.img', vdev: 'xvdb', format: 'raw' }]);
  assert.equal(f.facts.pci, false);
  const types: [string, string][] = [['type = "p"', 'pv'], ['type = ""', 'hvm'], ['type = "hv"', 'hvm'], ['type = "pvh"\npvshim = 1', 'pvh-shim'], ['builder = "hvm"', 'hvm'], ['', 'pv']];
  for (const [line, want] of types) {
    const r = guestFacts(b(`name = "x"\n${line}\n`), 'x.cfg');
    assert.ok(r.ok && r.facts.type === want, `${line} → ${r.ok ? r.facts.type : r.error}`);
  }
  assert.ok(!guestFacts(b('type = "PVH"\n'), 'x.cfg').ok);
  assert.ok(!guestFacts(b('builder = "linux"\n'), 'x.cfg').ok);
  const bad = guestFacts(b('name = "x\n'), 'x.cfg');
  assert.ok(!bad.ok && /x\.cfg:1/.test(bad.error));
  const pci = guestFacts(b('name = "x"\npci = [ "01:00.0" ]\n'), 'x.cfg');
  assert.ok(pci.ok && pci.facts.pci);
});

test('how the guest boots: a dom0 kernel with its command line, a PV GRUB image (Debian or stubdom), pygrub, firmware', () => {
  const boot = (text: string) => {
    const r = guestFacts(b(`name = "x"\n${text}\n`), 'x.cfg');
    assert.ok(r.ok, r.ok ? '' : r.error);
    return r.facts.boot;
  };
  assert.deepEqual(boot('kernel = "/boot/vmlinuz"\nroot = "/dev/xvda1 ro"\nextra = "quiet"'), { kind: 'direct', kernel: '/boot/vmlinuz', cmdline: 'root=/dev/xvda1 ro quiet' });
  assert.deepEqual(boot('kernel = "/boot/vmlinuz"\ncmdline = "console=hvc0"\nroot = "/dev/xvda1"'), { kind: 'direct', kernel: '/boot/vmlinuz', cmdline: 'console=hvc0' });
  for (const image of ['/usr/lib/grub-xen/grub-x86_64-xen.bin', '/usr/lib/grub-xen/grub-i386-xen.bin', '/usr/lib/grub-xen/grub-i386-xen_pvh.bin', '/usr/lib/xen-4.17/boot/pv-grub-x86_64.gz']) {
    assert.deepEqual(boot(`kernel = "${image}"`), { kind: 'pv-grub', image });
  }
  assert.deepEqual(boot('firmware = "pvgrub32"'), { kind: 'pv-grub', image: 'pvgrub32' });
  // A kernel whose name merely mentions GRUB or pvgrub is a kernel the host boots directly.
  assert.equal(boot('kernel = "/srv/pvgrub-test/vmlinuz"').kind, 'direct');
  assert.equal(boot('kernel = "/boot/grub-xen.bin.old"').kind, 'direct');
  assert.ok(!PV_GRUB_IMAGE.test('/boot/vmlinuz-grub-xen.bin-backup'));
  assert.deepEqual(boot('bootloader = "pygrub"'), { kind: 'bootloader', bootloader: 'pygrub' });
  assert.deepEqual(boot('firmware = "ovmf"'), { kind: 'firmware', firmware: 'ovmf' });
  assert.deepEqual(boot(''), { kind: 'none' });
});

test('bounded and byte-faithful: a config over MAX_CONFIG is refused; UTF-8 paths stay UTF-8, other bytes are kept as latin1', () => {
  const big = guestFacts(new Uint8Array(MAX_CONFIG + 1).fill(0x23), 'big.cfg');
  assert.ok(!big.ok && /^big\.cfg: \d+ bytes is too large for an xl config/.test(big.error));
  const utf8 = guestFacts(new Uint8Array(Buffer.from('name = "x"\ndisk = [ "/srv/caf\u00e9.img,raw,xvda,w" ]\n', 'utf8')), 'u.cfg');
  assert.ok(utf8.ok && utf8.facts.disks[0]!.path === '/srv/caf\u00e9.img');
  const latin1 = guestFacts(b('name = "x"\n# caf\xe9\ndisk = [ "/srv/a.img,raw,xvda,w" ]\n'), 'l.cfg');
  assert.ok(latin1.ok && latin1.facts.disks[0]!.path === '/srv/a.img');
});
