/**
 * pvhctl's disk spec parser against libxlutil's own (xlu_disk_parse): hand-written specs from
 * xl-disk-configuration.txt plus generated ones (seeded; PVHCTL_FUZZ_SEED replays).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiskSpec } from './disk.ts';
import { buildXluDisk, runXluDisk, type XluDisk } from '../../test/support/xlu/harness.ts';
import { rng } from './gen.ts';

const SPECS = [
  'phy:/dev/vg/x,xvda,w', '/dev/vg/x,xvda,w', '/dev/vg/guest-volume,,hda', '/dev/vg/guest-volume,raw,hda,rw',
  'format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume', 'raw:/dev/vg/guest-volume,hda,w', '/root/image.iso,,hdc,cdrom',
  '/root/image.iso,,hdc,,cdrom', '/root/image.iso,raw,hdc,devtype=cdrom', 'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso',
  'raw:/root/image.iso,hdc:cdrom,ro', ',hdc:cdrom,r', 'vdev=xvda', 'xvda', ',,xvda', 'tap:aio:/x.img,xvda,w', 'foo=bar,xvda',
  '/x,,xvda,w,extra', 'vdev=xvda,target=/a,b', 'file:/srv/xen/web1-swap.img,xvdb,w', 'phy:/dev/vg0/web1,xvda,r', 'qcow2:/x.qcow2,xvda,w',
  '/x,qcow2,xvda', '/x,qcow3,xvda', 'iscsi:iqn.2001-05.com.x,xvda,w', 'bogus:/x,xvda,w', '/x,,xvda,rw,direct-io-safe', 'discard,/x,,xvda',
  '/x,,xvda,x', 'vdev=xvda,vdev=xvdb,target=/x', 'format=vhd,/x,xvda', 'backendtype=qdisk,/x,,xvda', 'backendtype=nope,/x,,xvda',
  'devtype=floppy,/x,,xvda', '  /x , , xvda', '/x,,xvda,', 'target=', 'cdrom,vdev=hdc', '=x', '/x=y,,xvda', 'phy:,xvda,w',
];

function same(ours: ReturnType<typeof parseDiskSpec>, xl: XluDisk): boolean {
  if (xl.kind === 'error') return !ours.ok;
  if (!ours.ok) return false;
  const d = ours.disk;
  return (d.target ?? '') === (xl.target ?? '') && d.format === xl.format && d.vdev === xl.vdev && (d.access === 'rw') === xl.readwrite && d.cdrom === xl.cdrom;
}

const SEED = Number(process.env.PVHCTL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

test(`disk specs: pvhctl reads them as libxlutil does (hand-written and generated, seed ${SEED})`, () => {
  const r = rng(SEED);
  const parts = ['phy:', 'file:', 'raw:', 'qcow2:', 'tap:', 'aio:', '/dev/vg0/web1', '/srv/a.img', '', 'xvda', 'hdc:cdrom', 'raw', 'qcow2', 'w', 'r', 'ro', 'cdrom', 'vdev=xvdb', 'format=raw', 'access=rw', 'devtype=cdrom', 'discard', 'target=/a,b', ' ', 'x=y'];
  const generated: string[] = [];
  for (let k = 0; k < 1500; k++) {
    const n = 1 + Math.floor(r() * 5);
    let s = '';
    for (let j = 0; j < n; j++) {
      const p = parts[Math.floor(r() * parts.length)]!;
      s += p.endsWith(':') ? p : `${p}${j < n - 1 ? ',' : ''}`;
    }
    generated.push(s);
  }
  const all = [...SPECS, ...generated];
  const xl = runXluDisk(buildXluDisk(), all);
  assert.equal(xl.length, all.length);
  const bad = all.filter((s, k) => !same(parseDiskSpec(s), xl[k]!)).map((s) => `${JSON.stringify(s)}: pvhctl ${JSON.stringify(parseDiskSpec(s))} xl ${JSON.stringify(xl[all.indexOf(s)])}`);
  assert.equal(bad.length, 0, `seed ${SEED}: ${bad.length} disagreement(s):\n${bad.slice(0, 8).join('\n')}`);
  assert.ok(xl.filter((x) => x.kind === 'ok').length > 100, 'too few valid specs to compare values');
});
