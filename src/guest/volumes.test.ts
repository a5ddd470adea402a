import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { findVolume, openVolumes } from './volumes.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-volumes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, mib: number): string {
  const f = join(dir, name);
  writeFileSync(f, '');
  truncateSync(f, mib * 1024 * 1024);
  return f;
}

test('volumes: ext4 and XFS read, swap named (not read), vdev names and fstab specs matched', () => {
  const disk = file('disk.img', 2 + 300 + 64 + 1);
  execFileSync('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', disk], { input: 'label: dos\nlabel-id: 0x0a0b0c0d\nstart=2048, size=300M, type=83\nsize=64M, type=83\nsize=1M, type=82\n' });
  const xfs = file('xfs.img', 300);
  execFileSync('mkfs.xfs', ['-q', '-f', '-L', 'rhelroot', '-m', 'uuid=66666666-7777-8888-9999-000000000000', xfs]);
  const ext = file('ext.img', 64);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'bootfs', '-U', '11111111-2222-3333-4444-555555555555', ext]);
  const swap = file('swap.img', 1);
  execFileSync('mkswap', ['-q', swap]);
  execFileSync('dd', [`if=${xfs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
  execFileSync('dd', [`if=${ext}`, `of=${disk}`, 'bs=1M', 'seek=301', 'conv=notrunc,sparse', 'status=none']);
  execFileSync('dd', [`if=${swap}`, `of=${disk}`, 'bs=1M', 'seek=365', 'conv=notrunc,sparse', 'status=none']);
  const g = openVolumes([{ path: disk, vdev: 'xvdb' }]);
  try {
    assert.deepEqual(g.volumes.map((v) => v.devices[0]), ['/dev/xvdb1', '/dev/xvdb2', '/dev/xvdb3']);
    assert.equal(g.volumes[0]!.fs?.type, 'xfs', g.volumes[0]!.problem ?? '');
    assert.equal(g.volumes[0]!.problem, null);
    assert.deepEqual(g.volumes[0]!.fs?.warnings, []);
    assert.equal(findVolume(g.volumes, 'UUID=66666666-7777-8888-9999-000000000000'), g.volumes[0]);
    assert.equal(findVolume(g.volumes, 'LABEL=rhelroot'), g.volumes[0]);
    assert.equal(g.volumes[1]!.fs?.type, 'ext4');
    assert.match(g.volumes[2]!.problem!, /swap/);
    for (const spec of ['UUID=11111111-2222-3333-4444-555555555555', 'LABEL=bootfs', 'PARTUUID=0a0b0c0d-02', '/dev/xvdb2', '/dev/disk/by-uuid/11111111-2222-3333-4444-555555555555']) {
      assert.equal(findVolume(g.volumes, spec), g.volumes[1], spec);
    }
    assert.equal(findVolume(g.volumes, 'UUID=00000000-0000-0000-0000-000000000000'), null);
  } finally {
    g.close();
  }
  // A partition vdev (xvda1) is a whole-disk filesystem; an sd* vdev is also matched as xvd*.
  const whole = openVolumes([{ path: ext, vdev: 'sda1' }]);
  assert.deepEqual(whole.volumes[0]!.devices, ['/dev/sda1', '/dev/xvda1']);
  whole.close();
});
