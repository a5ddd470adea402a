import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { debianGrubCfg, grubenv } from '../boot/testdata/debian-grub.ts';
import { inspectGuest } from './inspect.ts';
import { alpineExtlinux } from '../boot/testdata/alpine-extlinux.ts';
import { fuzzCases, fuzzSeed, mutate, rng } from '../../test/support/fuzz.ts';

const seed = fuzzSeed();

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-guest-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A small real guest disk: MBR, an ext4 root with fstab, os-release, grub.cfg, grubenv and a (fake, tiny) kernel file. */
function baseImage(): Uint8Array {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'boot/grub'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  const uuid = '0b5e0c1a-3333-4a4a-8b8b-000000000003';
  writeFileSync(join(tree, 'etc/fstab'), `UUID=${uuid} / ext4 defaults 0 1\n`);
  writeFileSync(join(tree, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(tree, 'boot/grub/grub.cfg'), debianGrubCfg({ kernels: ['6.1.0-1-amd64', '6.1.0-0-amd64'], rootUuid: uuid, grubDefault: 'saved' }));
  writeFileSync(join(tree, 'boot/grub/grubenv'), grubenv({ saved_entry: '1>2' }));
  // Not a kernel: the kernel reader says so, which is all this test needs from it.
  writeFileSync(join(tree, 'boot/vmlinuz-6.1.0-1-amd64'), Buffer.alloc(5000, 0x90));
  writeFileSync(join(tree, 'boot/vmlinuz-6.1.0-0-amd64'), Buffer.alloc(3000, 0x90));
  const fs = join(dir, 'fs.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-U', uuid, '-d', tree, fs, '3M']);
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, '');
  truncateSync(disk, 5 * 1024 * 1024);
  execFileSync('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', disk], { input: 'label: dos\nstart=2048, size=3M, type=83\n' });
  execFileSync('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
  return new Uint8Array(readFileSync(disk));
}

test('fuzz: mutated real guest disks always give a report with one of the six verdicts (bounded cases)', async () => {
  const base = baseImage();
  const clean = join(dir, 'clean.img');
  writeFileSync(clean, base);
  const first = await inspectGuest([{ path: clean, vdev: null }], { dataDir: null });
  assert.equal(first.boot?.loader, 'grub2');
  assert.equal(first.verdict.verdict, 'needs-kernel', JSON.stringify(first.verdict));

  const verdicts = new Set(['ready', 'ready-after-reboot', 'needs-kernel', 'shim', 'blocked', 'unknown']);
  let seed = 99;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const img = join(dir, 'case.img');
  const seen = new Set<string>();
  for (let c = 0; c < 150; c++) {
    const bytes = base.slice();
    const n = 1 + Math.floor(rnd() * 12);
    for (let k = 0; k < n; k++) {
      // The MBR, and the filesystem's metadata and small files (the first ~400 KiB of the partition).
      const at = rnd() < 0.1 ? Math.floor(rnd() * 512) : (1 << 20) + Math.floor(rnd() * 400 * 1024);
      bytes[at] = Math.floor(rnd() * 256);
    }
    writeFileSync(img, bytes);
    const r = await inspectGuest([{ path: img, vdev: null }], { dataDir: null });
    assert.ok(verdicts.has(r.verdict.verdict));
    assert.ok(r.verdict.reasons.length > 0);
    seen.add(r.verdict.verdict);
  }
  assert.ok(seen.size >= 2, `mutations reach more than one verdict (${[...seen].join(', ')})`);
});

test(`fuzz: a mutated lone /boot filesystem with Alpine's extlinux.conf (DEFAULT menu.c32, MENU DEFAULT) always gives a report (seed ${seed})`, async () => {
  const tree = join(dir, 'alpine-boot');
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'extlinux.conf'), alpineExtlinux({ kernels: ['lts', 'virt'], default: 'virt', root: 'UUID=0b5e0c1a-3333-4a4a-8b8b-000000000003' }));
  // Not kernels: the kernel reader says so, which is all this test needs from them.
  writeFileSync(join(tree, 'vmlinuz-lts'), Buffer.alloc(3000, 0x90));
  writeFileSync(join(tree, 'vmlinuz-virt'), Buffer.alloc(5000, 0x90));
  const fs = join(dir, 'alpine-boot.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-d', tree, fs, '2M']);
  const base = new Uint8Array(readFileSync(fs));
  const first = await inspectGuest([{ path: fs, vdev: 'xvda1' }], { dataDir: null });
  assert.equal(first.boot?.file, '/extlinux.conf');
  assert.ok(first.boot?.default.decided && first.boot.entries[first.boot.default.index]!.kernelPath === '/vmlinuz-virt');

  const verdicts = new Set(['ready', 'ready-after-reboot', 'needs-kernel', 'shim', 'blocked', 'unknown']);
  const r = rng(seed);
  const img = join(dir, 'alpine-case.img');
  let menus = 0;
  for (let c = 0; c < fuzzCases(60); c++) {
    // Metadata and the small files sit in the first ~300 KiB.
    const bytes = mutate(base, r, 1024, 300 * 1024);
    writeFileSync(img, bytes);
    const rep = await inspectGuest([{ path: img, vdev: 'xvda1' }], { dataDir: null });
    assert.ok(verdicts.has(rep.verdict.verdict));
    assert.ok(rep.verdict.reasons.length > 0);
    if (rep.boot?.loader === 'extlinux') menus++;
  }
  assert.ok(menus > 0, `some mutated filesystems still give the extlinux menu (${menus})`);
});
