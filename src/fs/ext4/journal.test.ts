import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { memorySource, openSource } from '../../disk/source.ts';
import { openExt4 } from './ext4.ts';
import { readPath } from '../path.ts';
import { fuzzCases } from '../../../test/support/fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function debugfs(img: string, commands: string[], write = false): string {
  const f = join(dir, 'cmds');
  writeFileSync(f, commands.join('\n') + '\n');
  return execFileSync('debugfs', [...(write ? ['-w'] : []), '-f', f, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/** A 4 KiB-block image with /boot/grub/grub.cfg ("OLD ...") and /boot/grub/other ("KEEP..."), and their first blocks. */
function grubImage(name: string, mkfsArgs: string[]): { img: string; cfgBlock: string; otherBlock: string } {
  const tree = join(dir, `${name}-tree`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'boot/grub'), { recursive: true });
  writeFileSync(join(tree, 'boot/grub/grub.cfg'), 'OLD '.repeat(1024));
  writeFileSync(join(tree, 'boot/grub/other'), 'KEEP'.repeat(1024));
  const img = join(dir, `${name}.img`);
  execFileSync('mke2fs', ['-q', '-F', ...mkfsArgs, '-b', '4096', '-d', tree, img, '32M']);
  const blk = (p: string) => execFileSync('debugfs', ['-R', `bmap ${p} 0`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  return { img, cfgBlock: blk('/boot/grub/grub.cfg'), otherBlock: blk('/boot/grub/other') };
}

/**
 * A real filesystem whose journal holds committed transactions not yet written in place, made with
 * debugfs's journal writer (jo/jw/jc): the state a guest leaves when it crashes, or when its disk is
 * read while it runs.
 */
for (const [label, mkfsArgs] of [
  ['ext4 (metadata_csum, 64bit journal)', ['-t', 'ext4']],
  ['ext3', ['-t', 'ext3']],
] as const) {
  test(`journal replay (${label}): committed blocks are read from the journal; e2fsprogs' own replay agrees`, () => {
    const { img, cfgBlock, otherBlock } = grubImage('j', [...mkfsArgs]);
    writeFileSync(join(dir, 'new.bin'), 'NEW '.repeat(1024));
    writeFileSync(join(dir, 'newer.bin'), 'NEWR'.repeat(1024));
    // Two committed transactions to grub.cfg's block (the later wins); one to `other`, then revoked.
    debugfs(img, ['jo', `jw -b ${cfgBlock} ${join(dir, 'new.bin')}`, `jw -b ${otherBlock} ${join(dir, 'new.bin')}`, 'jc', 'jo', `jw -b ${cfgBlock} ${join(dir, 'newer.bin')}`, `jw -r ${otherBlock}`, 'jc'], true);
    assert.match(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /needs_recovery/);

    const fs = openExt4(openSource(img));
    const t = { root: fs, mounts: [] };
    const cfg = readPath(t, '/boot/grub/grub.cfg', 1 << 20);
    assert.ok(cfg.ok);
    assert.equal(Buffer.from(cfg.data).toString().slice(0, 8), 'NEWRNEWR');
    const other = readPath(t, '/boot/grub/other', 1 << 20);
    assert.ok(other.ok);
    assert.equal(Buffer.from(other.data).toString().slice(0, 8), 'KEEPKEEP', 'the revoke cancels the earlier copy');
    assert.match(fs.warnings.join(), /journal needed recovery .*; 1 block\(s\) read from it/);

    // e2fsprogs' replay (debugfs journal_run on a copy) gives the same bytes.
    const replayed = join(dir, 'replayed.img');
    copyFileSync(img, replayed);
    debugfs(replayed, ['jr'], true);
    const theirs = execFileSync('debugfs', ['-R', 'cat /boot/grub/grub.cfg', replayed], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.ok(theirs === Buffer.from(cfg.data).toString(), 'same bytes as debugfs after journal_run');

    // A corrupted journal superblock: the files still read (as on disk), with a warning.
    const bytes = new Uint8Array(readFileSync(img));
    const journalBlock0 = Number(execFileSync('debugfs', ['-R', 'bmap <8> 0', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    bytes[journalBlock0 * 4096] = 0;
    const broken = openExt4(memorySource(bytes, 'broken.img'));
    assert.match(broken.warnings.join(), /could not be replayed/);
    const stale = readPath({ root: broken, mounts: [] }, '/boot/grub/grub.cfg', 1 << 20);
    assert.ok(stale.ok && Buffer.from(stale.data).toString().startsWith('OLD '));
  });
}

/** Sets or clears bits of the journal superblock's s_feature_incompat (big-endian, at 0x28). */
function setJournalIncompat(bytes: Uint8Array, journalBlock0: number, clear: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + journalBlock0 * 4096);
  dv.setUint32(0x28, dv.getUint32(0x28) & ~clear);
}

test('journal replay: a revoke block without INCOMPAT_REVOKE is applied and replay goes on to the later transactions (as jbd2 and e2fsck do)', () => {
  const { img, cfgBlock, otherBlock } = grubImage('r', ['-t', 'ext4']);
  const run = (cmd: string, image = img) => execFileSync('debugfs', ['-R', cmd, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  writeFileSync(join(dir, 'new.bin'), 'NEW '.repeat(1024));
  // Transaction 1 logs `other` and revokes it; transaction 2 logs grub.cfg's new content.
  debugfs(img, ['jo', `jw -b ${otherBlock} ${join(dir, 'new.bin')}`, 'jc', 'jo', `jw -r ${otherBlock}`, 'jc', 'jo', `jw -b ${cfgBlock} ${join(dir, 'new.bin')}`, 'jc'], true);
  assert.match(run('logdump'), /revoke table/);
  const j0 = Number(run('bmap <8> 0').trim());
  const bytes = new Uint8Array(readFileSync(img));
  setJournalIncompat(bytes, j0, 0x1); // JBD2_FEATURE_INCOMPAT_REVOKE
  writeFileSync(img, bytes);
  assert.doesNotMatch(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /journal_incompat_revoke/);

  const fs = openExt4(openSource(img));
  const t = { root: fs, mounts: [] };
  const cfg = readPath(t, '/boot/grub/grub.cfg', 1 << 20);
  const other = readPath(t, '/boot/grub/other', 1 << 20);
  assert.ok(cfg.ok && other.ok);
  assert.equal(Buffer.from(cfg.data).toString().slice(0, 8), 'NEW NEW ', 'the transaction after the revoke block is replayed');
  assert.equal(Buffer.from(other.data).toString().slice(0, 8), 'KEEPKEEP', 'the revoke cancels the earlier copy');
  assert.doesNotMatch(fs.warnings.join(), /stops|could not/);

  // e2fsck's own replay of the same bytes agrees.
  const fixed = join(dir, 'r-fsck.img');
  copyFileSync(img, fixed);
  try {
    execFileSync('e2fsck', ['-fy', fixed], { stdio: 'ignore' });
  } catch (err) {
    if ((err as { status?: number }).status !== 1) throw err; // 1 = filesystem changed (the replay)
  }
  assert.equal(run('cat /boot/grub/grub.cfg', fixed), Buffer.from(cfg.data).toString());
  assert.equal(run('cat /boot/grub/other', fixed), Buffer.from(other.data).toString());
});

test('journal replay: a new kernel written after a revoke (no INCOMPAT_REVOKE) is seen: its directory entry, inode and data come from the journal', () => {
  const tree = join(dir, 'ktree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'boot'), { recursive: true });
  writeFileSync(join(tree, 'boot/vmlinuz-old'), 'old kernel\n');
  writeFileSync(join(tree, 'boot/spare'), 'SPARE'.repeat(1000));
  const img = join(dir, 'k.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, img, '32M']);
  // The same filesystem after the guest installed a kernel: what its journal would log.
  const after = join(dir, 'k-after.img');
  copyFileSync(img, after);
  writeFileSync(join(dir, 'vmlinuz-new'), 'new kernel\n');
  execFileSync('debugfs', ['-w', '-R', `write ${join(dir, 'vmlinuz-new')} /boot/vmlinuz-new`, after], { stdio: 'ignore' });
  const a = readFileSync(img);
  const b = readFileSync(after);
  const changed: number[] = [];
  // Block 0 (the superblock's counters) is left out: the reader takes the superblock from the disk.
  for (let n = 1; n < a.length / 4096; n++) if (!a.subarray(n * 4096, (n + 1) * 4096).equals(b.subarray(n * 4096, (n + 1) * 4096))) changed.push(n);
  assert.ok(changed.length >= 4, `directory, inode table, bitmaps, data changed (${changed.join(', ')})`);
  const cmds = ['jo', `jw -r ${execFileSync('debugfs', ['-R', 'bmap /boot/spare 0', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()}`, 'jc', 'jo'];
  for (const n of changed) {
    writeFileSync(join(dir, `blk-${n}`), b.subarray(n * 4096, (n + 1) * 4096));
    cmds.push(`jw -b ${n} ${join(dir, `blk-${n}`)}`);
  }
  debugfs(img, [...cmds, 'jc'], true);
  const bytes = new Uint8Array(readFileSync(img));
  setJournalIncompat(bytes, Number(execFileSync('debugfs', ['-R', 'bmap <8> 0', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()), 0x1);
  writeFileSync(img, bytes);

  const fs = openExt4(openSource(img));
  const boot = fs.lookup(fs.root(), 'boot')!;
  assert.deepEqual(fs.list(boot).map((e) => e.name).sort(), ['spare', 'vmlinuz-new', 'vmlinuz-old']);
  const k = readPath({ root: fs, mounts: [] }, '/boot/vmlinuz-new', 1 << 20);
  assert.ok(k.ok && Buffer.from(k.data).toString() === 'new kernel\n');
  // e2fsck's replay of the same journal gives the same directory.
  const fixed = join(dir, 'k-fsck.img');
  copyFileSync(img, fixed);
  try {
    execFileSync('e2fsck', ['-fy', fixed], { stdio: 'ignore' });
  } catch (err) {
    if ((err as { status?: number }).status !== 1) throw err;
  }
  const theirs = execFileSync('debugfs', ['-R', 'ls -p /boot', fixed], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  for (const name of ['spare', 'vmlinuz-new', 'vmlinuz-old']) assert.match(theirs, new RegExp(`/${name}/`));
});

test('journal replay: a log block of unknown type ends the replay there, with a warning saying so', () => {
  const tree = join(dir, 'utree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'a'), 'OLDA'.repeat(1024));
  writeFileSync(join(tree, 'b'), 'OLDB'.repeat(1024));
  const img = join(dir, 'u.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, img, '32M']);
  const run = (cmd: string) => execFileSync('debugfs', ['-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  writeFileSync(join(dir, 'new.bin'), 'NEW '.repeat(1024));
  debugfs(img, ['jo', `jw -b ${run('bmap /a 0').trim()} ${join(dir, 'new.bin')}`, 'jc', 'jo', `jw -b ${run('bmap /b 0').trim()} ${join(dir, 'new.bin')}`, 'jc'], true);
  // The log: descriptor, data, commit (transaction 1), then descriptor, data, commit. Make the
  // second descriptor a type no jbd2 knows.
  const j0 = Number(run('bmap <8> 0').trim());
  const bytes = new Uint8Array(readFileSync(img));
  const start = new DataView(bytes.buffer).getUint32(j0 * 4096 + 0x1c);
  const second = Number(run(`bmap <8> ${start + 3}`).trim());
  const dv = new DataView(bytes.buffer, second * 4096);
  assert.equal(dv.getUint32(4), 1, 'a descriptor block where expected');
  dv.setUint32(4, 9);
  const fs = openExt4(memorySource(bytes, 'u.img'));
  const a = readPath({ root: fs, mounts: [] }, '/a', 1 << 20);
  const b = readPath({ root: fs, mounts: [] }, '/b', 1 << 20);
  assert.ok(a.ok && b.ok);
  assert.equal(Buffer.from(a.data).toString().slice(0, 4), 'NEW ');
  assert.equal(Buffer.from(b.data).toString().slice(0, 4), 'OLDB');
  assert.match(fs.warnings.join(), /unknown type 9; replay stops there/);
});

test('fuzz: mutated journal logs never crash or hang the replay (bounded cases)', () => {
  const tree = join(dir, 'ftree');
  mkdirSync(join(tree, 'd'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(tree, 'd', `f${i}`), `${i}`.repeat(3000));
  const img = join(dir, 'fz.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, img, '16M']);
  const run = (cmd: string) => execFileSync('debugfs', ['-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  writeFileSync(join(dir, 'blk.bin'), Buffer.alloc(4096, 0x41));
  const cmds = ['jo'];
  for (let i = 0; i < 6; i++) cmds.push(`jw -b ${run(`bmap /d/f${i} 0`)} ${join(dir, 'blk.bin')}`, ...(i % 2 ? ['jc', 'jo'] : []));
  cmds.push(`jw -r ${run('bmap /d/f7 0')}`, 'jc');
  debugfs(img, cmds, true);
  const base = new Uint8Array(readFileSync(img));
  const j0 = Number(run('bmap <8> 0'));
  let seed = 4242;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let replayed = 0;
  for (let c = 0; c < fuzzCases(200); c++) {
    const bytes = base.slice();
    // Half the cases without INCOMPAT_REVOKE: the revoke block is still read (as jbd2 does).
    if (c % 2 === 1) setJournalIncompat(bytes, j0, 0x1);
    for (let k = 0; k < 1 + Math.floor(rnd() * 8); k++) {
      // The journal superblock and the first log blocks (descriptors, revokes, commits, data).
      const at = j0 * 4096 + Math.floor(rnd() * 8 * 4096);
      bytes[at] = rnd() < 0.5 ? Math.floor(rnd() * 256) : bytes[at]! ^ (1 << Math.floor(rnd() * 8));
    }
    const fs = openExt4(memorySource(bytes, `case ${c}`));
    if (fs.warnings.some((w) => /read from it/.test(w))) replayed++;
    const r = readPath({ root: fs, mounts: [] }, '/d/f3', 1 << 20);
    if (!r.ok) assert.equal(r.error, 'EIO');
  }
  assert.ok(replayed > 20, `many mutated journals still replay (${replayed})`);
});
