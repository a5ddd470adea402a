import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXlConfig } from './parser.ts';
import { rehearsalConfig, REHEARSAL_ACTIONS } from './rehearse.ts';
import { convertConfig } from './rewrite.ts';
import { buildXluDump, runXlu } from '../../test/support/xlu/harness.ts';
import type { XlConfig } from './types.ts';

function parse(text: string): XlConfig {
  const r = parseXlConfig(text, 'guest.cfg');
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.config;
}
const NAME = 'pvhctl-rehearse-web1';
const SNAP = new Map([['/dev/vg0/web1', '/dev/vg0/pvhctl-rehearse-web1-xvda'], ['/srv/xen/web1-data.img', '/srv/xen/pvhctl-rehearse-web1-xvdb.img']]);

/** The PV config of a customer, and the PVH one the switch writes from it (what is rehearsed). */
const PV = `# web1: customer VPS
name = "web1"
uuid = "4f3c2b1a-0000-4000-8000-000000000001"
builder = "generic"
kernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"
memory = 2048
maxmem = 2048
vcpus = 2
disk = [ 'phy:/dev/vg0/web1,xvda,w', # root
  'format=raw, vdev=xvdb, access=rw, discard, target=/srv/xen/web1-data.img',
  ',,hdc:cdrom,r' ]
vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0', 'mac=00:16:3e:00:00:02,bridge=xenbr1' ]
vif += [ 'bridge=xenbr2' ]
vnc = 1
vncdisplay = 3
vtpm = [ 'backend=vtpmmgr' ]
channel = [ 'name=org.qemu.guest_agent.0,connection=socket,path=/run/xen/web1.sock' ]
on_reboot = "restart"; on_crash = 'preserve'
`;

test('the rehearsal config: renamed, no vif, every disk on its snapshot, destroy on reboot/crash/poweroff, nothing shared; read back by libxlutil', async () => {
  const pvh = convertConfig(parse(PV), 'pvh', {});
  assert.ok(pvh.ok);
  const r = rehearsalConfig(pvh.config, NAME, SNAP);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.memoryMb, 2048);
  const [xl] = await runXlu(buildXluDump(), [r.text]);
  assert.ok(xl!.kind === 'ok', JSON.stringify(xl));
  const got = new Map(xl!.settings.map((s) => [s.key, s.value]));
  assert.equal(got.get('name'), NAME);
  assert.equal(got.get('type'), 'pvh');
  assert.equal(got.get('kernel'), '/usr/lib/grub-xen/grub-i386-xen_pvh.bin');
  for (const k of ['vif', 'uuid', 'vfb', 'vtpm', 'channel', 'vnc', 'vncdisplay']) assert.equal(got.has(k), false, k);
  assert.deepEqual(got.get('disk'), [
    'format=raw, vdev=xvda, access=rw, target=/dev/vg0/pvhctl-rehearse-web1-xvda',
    'format=raw, vdev=xvdb, access=rw, discard, target=/srv/xen/pvhctl-rehearse-web1-xvdb.img',
    ',,hdc:cdrom,r',
  ]);
  for (const k of REHEARSAL_ACTIONS) assert.equal(got.get(k), 'destroy', k);
  // Everything else is as the switch would write it.
  assert.equal(got.get('memory'), '2048');
  assert.equal(got.get('vcpus'), '2');
  assert.match(r.text, /^# web1: customer VPS\n/);
});

test('hostile configs: a disk without a snapshot, no memory, a non-PVH config, list-shaped values are refused, never rehearsed on the real disk', () => {
  const base = 'name = "web1"\ntype = "pvh"\nkernel = "/k"\nmemory = 512\n';
  const refused: [string, RegExp][] = [
    [`${base}disk = [ 'phy:/dev/vg0/web1,xvda,w', 'phy:/dev/vg0/other,xvdc,w' ]\n`, /xvdc \(\/dev\/vg0\/other\) has no snapshot/],
    // The same disk spelled so that only xl's own parser sees the real target.
    [`${base}disk = [ 'vdev=xvda, target=/dev/vg0/web1,xvda,w' ]\n`, /has no snapshot/],
    [`name = "web1"\ntype = "pvh"\nkernel = "/k"\ndisk = [ 'phy:/dev/vg0/web1,xvda,w' ]\n`, /sets no usable memory \(none\)/],
    [`${base.replace('512', '0')}disk = [ 'phy:/dev/vg0/web1,xvda,w' ]\n`, /no usable memory/],
    [`name = "web1"\nkernel = "/k"\nmemory = 512\ndisk = [ 'phy:/dev/vg0/web1,xvda,w' ]\n`, /is PV, not PVH/],
    [`${base}disk = 'phy:/dev/vg0/web1,xvda,w'\n`, /xl would ignore/],
    [`${base}disk = [ 'phy:/dev/vg0/web1,xvda,w,bogus' ]\n`, /disk/],
    [`${base}disk = [ ]\n`, /no disk to boot from/],
  ];
  for (const [text, why] of refused) {
    const r = rehearsalConfig(parse(text), NAME, SNAP);
    assert.ok(!r.ok, text);
    assert.match(r.reason, why, text);
  }
  // Repeated keys, += and ; separators: the last statement of each wins, as in xl.
  const odd = `${base}name = "web1"; vif = [ 'bridge=a' ]\nvif += [ 'bridge=b' ]\ndisk = [ 'phy:/dev/vg0/web1,xvda,w' ]\non_crash = "preserve"\non_crash += "x"\n`;
  const r = rehearsalConfig(parse(odd), NAME, SNAP);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.doesNotMatch(r.text, /vif|web1,xvda/);
  assert.match(r.text, /on_crash = "destroy"/);
  assert.equal((r.text.match(/name = /g) ?? []).length, 2, 'the earlier name statement stays, overridden');
});
