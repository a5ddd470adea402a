import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readConfigFacts, rewriteConfig } from './xlconfig.ts';
import { DEBIAN_BOOT_PATHS } from '../xlcfg/rewrite.ts';

const PVH_GRUB = DEBIAN_BOOT_PATHS.pvhGrub;
const NO = { verdict: null, xenCaps: [] };

const b = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const t = (u: Uint8Array) => Buffer.from(u).toString('latin1');

test('a disk spec xl would refuse stops the switch (inspection only notes it)', () => {
  const r = readConfigFacts(b('name = "x"\ndisk = [ "phy:/dev/vg0/x,xvda,w", "vdev=xvdb, access=rw, what=1" ]\n'), 'x.cfg');
  assert.ok(!r.ok && /^x\.cfg: disk "vdev=xvdb, access=rw, what=1": /.test(r.error), r.ok ? '' : r.error);
});

test('rewrite to PVH: minimal edits, every other byte kept, reads back as the target', () => {
  const text = '# Web server (caf\xe9 owner)\nname = "web"\nbuilder = "generic" # xm era\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\nmemory = 0512\nvif = [ \'bridge=xenbr0\', ]\n';
  const r = rewriteConfig(b(text), 'web.cfg', 'pvh', NO);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(t(r.content), `# Web server (caf\xe9 owner)\nname = "web"\ntype = "pvh"\nkernel = "${PVH_GRUB}"\nmemory = 0512\nvif = [ 'bridge=xenbr0', ]\n`);
  const back = readConfigFacts(r.content, 'web.cfg');
  assert.ok(back.ok && back.facts.type === 'pvh' && back.facts.kernel === PVH_GRUB);
  const direct = rewriteConfig(b('name = "d"\nkernel = "/boot/vmlinuz"\nextra = "console=hvc0"\n'), 'd.cfg', 'pvh', NO);
  assert.ok(direct.ok);
  assert.equal(t(direct.content), 'name = "d"\ntype = "pvh"\nkernel = "/boot/vmlinuz"\nextra = "console=hvc0"\n');
});

test('rewrite to the shim keeps the PV kernel; firmware=pvgrub64 becomes the PVH GRUB; PCI is refused', () => {
  const shim = rewriteConfig(b('name = "s"\nkernel = "/usr/lib/grub-xen/grub-i386-xen.bin"\n'), 's.cfg', 'pvh-shim', NO);
  assert.ok(shim.ok);
  assert.equal(t(shim.content), 'name = "s"\ntype = "pvh"\npvshim = 1\nkernel = "/usr/lib/grub-xen/grub-i386-xen.bin"\n');
  const fw = rewriteConfig(b('name = "f"\nfirmware = "pvgrub64"\n'), 'f.cfg', 'pvh', NO);
  assert.ok(fw.ok);
  const ff = readConfigFacts(fw.content, 'f.cfg');
  assert.ok(ff.ok && ff.facts.kernel === PVH_GRUB && ff.facts.type === 'pvh');
  assert.doesNotMatch(t(fw.content), /firmware/);
  const pci = rewriteConfig(b('name = "p"\nkernel = "/boot/vmlinuz"\npci = [ "01:00.0" ]\n'), 'p.cfg', 'pvh', NO);
  assert.ok(!pci.ok && /passthrough is not supported/.test(pci.reason));
  const unparsable = rewriteConfig(b('name = ("p")\n'), 'p.cfg', 'pvh', NO);
  assert.ok(!unparsable.ok && /p\.cfg:1/.test(unparsable.reason));
});
