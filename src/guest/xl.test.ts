import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONFIG } from '../xlcfg/facts.ts';
import { xlGuest } from './xl.ts';

test('pvhctl inspect --config: raw disks are inspected, the others and bad specs noted; a direct kernel and its command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-facts-'));
  try {
    const f = join(dir, 'web.cfg');
    writeFileSync(f, 'name = "web"\nkernel = "/boot/vmlinuz"\nextra = "quiet"\ndisk = [ "/srv/web.img,raw,xvda,w", "/srv/web.qcow2,qcow2,xvdb,w", "vdev=xvdc, what=1", "/srv/cd.iso,raw,hdc:cdrom,r" ]\npci = [ "01:00.0" ]\n');
    const g = xlGuest(f);
    assert.ok(typeof g !== 'string', String(g));
    assert.deepEqual(g.disks, [{ path: '/srv/web.img', vdev: 'xvda' }]);
    assert.equal(g.pci, true);
    assert.equal(g.directKernel, '/boot/vmlinuz');
    assert.equal(g.directCmdline, 'quiet');
    assert.match(g.boot, /the host boots this kernel directly/);
    assert.equal(g.notes.length, 2);
    assert.match(g.notes.join('\n'), /disk xvdb is qcow2, which pvhctl does not read/);
    assert.match(g.notes.join('\n'), /web\.cfg: disk "vdev=xvdc, what=1": /);
    const nameless = join(dir, 'db1.cfg');
    writeFileSync(nameless, 'kernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\n');
    const n = xlGuest(nameless);
    assert.ok(typeof n !== 'string' && n.name === 'db1' && n.directKernel === null && /PV GRUB reads the guest's boot menu/.test(n.boot));
    writeFileSync(join(dir, 'huge.cfg'), '#'.repeat(MAX_CONFIG + 10));
    assert.match(xlGuest(join(dir, 'huge.cfg')) as string, /huge\.cfg: 262145 bytes is too large/);
    assert.match(xlGuest(join(dir, 'missing.cfg')) as string, /missing\.cfg: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
