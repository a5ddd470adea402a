import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DriverError, domainName, hostPath } from '../driver.ts';
import { parseDmTargets, parseFreeMemory, parseLvs, parseStat } from './lvm.ts';
import { xlDriver } from './driver.ts';
import { localRunner } from './local.ts';

const p = hostPath('/dev/vg0/web1');

test('lvs, stat, dmsetup targets and free_memory as the tools print them', () => {
  assert.deepEqual(parseLvs('  vg0:web1:10737418240:4194304:2560::-wi-ao----\n', p), {
    kind: 'lv', path: p, vg: 'vg0', lv: 'web1', sizeBytes: 10737418240, extentBytes: 4194304, vgFreeExtents: 2560, origin: null, invalid: false,
  });
  const snap = parseLvs('  vg0:snap:10737418240:4194304:0:web1:swi-a-s---\n', p) as { origin: string; invalid: boolean };
  assert.deepEqual([snap.origin, snap.invalid], ['web1', false]);
  // A snapshot whose CoW area overflowed: lvs shows state I (invalid).
  assert.equal((parseLvs('  vg0:snap:10737418240:4194304:0:web1:swi-I-s---\n', p) as { invalid: boolean }).invalid, true);
  assert.deepEqual(parseStat('regular file:2147483648\n', hostPath('/srv/a.img')), { kind: 'file', path: '/srv/a.img', sizeBytes: 2147483648 });
  assert.equal(parseStat('block special file:0\n', hostPath('/dev/sdb1')).kind, 'other');
  assert.match((parseStat('directory:4096\n', hostPath('/srv')) as { what: string }).what, /a directory/);
  // Debian 12's dom0 kernel (dmsetup 1.02.185).
  const targets = 'snapshot-merge   v1.5.0\nsnapshot-origin  v1.9.0\nsnapshot         v1.16.0\nstriped          v1.6.0\nlinear           v1.4.0\nerror            v1.6.0\n';
  assert.deepEqual(parseDmTargets(targets), ['snapshot-merge', 'snapshot-origin', 'snapshot', 'striped', 'linear', 'error']);
  assert.equal(parseFreeMemory('host                   : lab\nfree_memory            : 3071\nsharing_freed_memory   : 0\n'), 3071);
});

test('hostile storage-tool output is refused in one line, never trusted', () => {
  const a = ':-wi-ao----';
  const bad = ['', '  a:b\n', `  vg0:web1:1:2:3:${a}\n  vg0:web2:1:2:3:${a}\n`, `  vg0:web1:-1:4194304:0:${a}\n`, `  vg0:web1:1e9:4194304:0:${a}\n`, `  vg;rm:web1:1:2:3:${a}\n`, `  vg0:web1:99999999999999999999:1:1:${a}\n`, '  vg0:web1:1:2:3::$(x)\n', '  vg0:web1:1:2:3:\n', 'x'.repeat(70_000)];
  for (const t of bad) assert.throws(() => parseLvs(t, p), DriverError, JSON.stringify(t.slice(0, 40)));
  assert.throws(() => parseStat('regular file:12\nextra', hostPath('/a')), DriverError);
  assert.throws(() => parseFreeMemory('free_memory : lots\n'), DriverError);
  assert.deepEqual(parseDmTargets('$(reboot) v1\nsnapshot v1.16.0 extra\n'), []);
});

/** A real XFS filesystem with reflinks on a loop device (root only; the machine has no device-mapper for LVM). */
function xfsWithReflinks(dir: string): { mnt: string; close(): void } | null {
  if (process.getuid?.() !== 0) return null;
  const img = join(dir, 'xfs.img');
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  execFileSync('truncate', ['-s', '320M', img]);
  execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
  execFileSync('mount', ['-o', 'loop', img, mnt]);
  return { mnt, close: () => execFileSync('umount', [mnt]) };
}

test('the local xl driver on real filesystems: a reflink copy on XFS, removed again; ext4 has no reflinks; only rehearsal names are removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-reflink-'));
  const d = xlDriver('local', localRunner());
  const fs = xfsWithReflinks(dir);
  if (fs === null) return t.skip('needs root to mount an XFS image');
  try {
    const origin = hostPath(join(fs.mnt, 'web1.img'));
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(origin, bytes);
    assert.deepEqual(await d.diskBacking(origin), { kind: 'file', path: origin, sizeBytes: bytes.length });
    const spec = { method: 'reflink' as const, origin, path: hostPath(join(fs.mnt, 'pvhctl-rehearse-web1-xvda.img')) };
    await d.snapshotDisk(spec);
    assert.ok(readFileSync(spec.path).equals(bytes));
    // A write to the copy does not reach the origin.
    writeFileSync(spec.path, 'changed');
    assert.ok(readFileSync(origin).equals(bytes));
    await d.removeSnapshot(spec);
    assert.ok(!existsSync(spec.path));
    await d.removeSnapshot(spec); // already gone: no error
    await assert.rejects(d.removeSnapshot({ method: 'reflink', origin, path: origin }), /not a rehearsal snapshot name/);
    assert.ok(existsSync(origin));
    // ext4 (this machine's /tmp filesystem) has no reflinks: cp fails and copies nothing.
    const onExt4 = hostPath(join(dir, 'web2.img'));
    writeFileSync(onExt4, bytes);
    const copy = hostPath(join(dir, 'pvhctl-rehearse-web2-xvda.img'));
    await assert.rejects(d.snapshotDisk({ method: 'reflink', origin: onExt4, path: copy }), /Operation not supported/);
    assert.ok(!existsSync(copy));
    // A block device that is not an LV, and a missing path.
    const loop = execFileSync('findmnt', ['-n', '-o', 'SOURCE', fs.mnt]).toString().trim();
    assert.equal((await d.diskBacking(hostPath(loop))).kind, 'other');
    assert.match(JSON.stringify(await d.diskBacking(hostPath(join(dir, 'missing.img')))), /not found on the host/);
    // The rehearsal config beside guest configs, and nothing else, can be removed.
    const cfg = hostPath(join(dir, '.pvhctl-rehearse-web1.cfg'));
    writeFileSync(cfg, 'name = "x"\n');
    await d.removeFile(cfg);
    assert.ok(!existsSync(cfg));
    await assert.rejects(d.removeFile(onExt4), /not a file pvhctl wrote/);
    // This machine has no device-mapper: no snapshot target, as a dom0 without dm_mod.
    assert.deepEqual(await d.dmTargets(), []);
  } finally {
    fs.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the xl driver runs exactly the documented commands, each a plain argument list the SSH runner accepts', async () => {
  const { shellJoin } = await import('./runner.ts');
  const calls: string[][] = [];
  const answers: Record<string, { code: number; out: string; err?: string }> = {
    lvs: { code: 0, out: '  vg0:pvhctl-rehearse-web1-xvda:10737418240:4194304:100:web1:swi-a-s---\n' },
    'xl info': { code: 0, out: 'host : xen1\nfree_memory            : 3071\n' },
    'dmsetup targets': { code: 0, out: 'snapshot         v1.16.0\nlinear           v1.4.0\n' },
  };
  const runner = {
    name: 'record',
    exec: async (argv: string[]) => {
      calls.push(argv);
      shellJoin(argv);
      const a = answers[argv[0] === 'lvs' ? 'lvs' : argv.slice(0, 2).join(' ')] ?? { code: 0, out: '' };
      return { code: a.code, stdout: Buffer.from(a.out), stderr: a.err ?? '' };
    },
  } as unknown as Parameters<typeof xlDriver>[1];
  const d = xlDriver('xen1', runner);
  const snap = { method: 'lvm-snapshot' as const, origin: hostPath('/dev/vg0/web1'), vg: 'vg0', name: 'pvhctl-rehearse-web1-xvda', cowBytes: 1073741824, path: hostPath('/dev/vg0/pvhctl-rehearse-web1-xvda') };
  assert.equal(await d.freeMemory(), 3071);
  assert.deepEqual(await d.dmTargets(), ['snapshot', 'linear']);
  await d.snapshotDisk(snap);
  await d.removeSnapshot(snap);
  await d.clearConsoleLog(domainName('pvhctl-rehearse-web1'));
  await assert.rejects(d.snapshotDisk({ ...snap, name: 'web1', path: hostPath('/dev/vg0/web1') }), /not a rehearsal snapshot name/);
  await assert.rejects(d.clearConsoleLog(domainName('web1')), /not a rehearsal domain; its console log is kept/);
  assert.deepEqual(calls, [
    ['xl', 'info'],
    ['dmsetup', 'targets'],
    ['lvcreate', '--snapshot', '--name', 'pvhctl-rehearse-web1-xvda', '--size', '1073741824b', '/dev/vg0/web1'],
    ['lvs', '--noheadings', '--nosuffix', '--units', 'b', '--separator', ':', '-o', 'vg_name,lv_name,lv_size,vg_extent_size,vg_free_count,origin,lv_attr', '/dev/vg0/pvhctl-rehearse-web1-xvda'],
    ['lvremove', '-f', 'vg0/pvhctl-rehearse-web1-xvda'],
    ['rm', '-f', '/var/log/xen/console/guest-pvhctl-rehearse-web1.log'],
  ]);
  // An LV that is not a snapshot (no origin) is never removed, whatever its name.
  answers.lvs = { code: 0, out: '  vg0:pvhctl-rehearse-web1-xvda:10737418240:4194304:100::-wi-ao----\n' };
  await assert.rejects(d.removeSnapshot(snap), /not a snapshot LV; not removed/);
  assert.equal(calls.at(-1)![0], 'lvs');
  // dm-snapshot not loaded yet: it counts when modprobe finds its module (lvcreate loads it), not otherwise.
  answers['dmsetup targets'] = { code: 0, out: 'linear           v1.4.0\nstriped          v1.6.0\n' };
  answers['modprobe -n'] = { code: 0, out: '' };
  assert.deepEqual(await d.dmTargets(), ['linear', 'striped', 'snapshot']);
  assert.deepEqual(calls.at(-1), ['modprobe', '-n', 'dm-snapshot']);
  answers['modprobe -n'] = { code: 1, out: '', err: 'modprobe: FATAL: Module dm-snapshot not found in directory /lib/modules/6.1.0-57-amd64' };
  assert.deepEqual(await d.dmTargets(), ['linear', 'striped']);
});
