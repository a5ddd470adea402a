import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { memorySource, openSource } from '../../disk/source.ts';
import { openExt4 } from './ext4.ts';
import { readPath } from '../path.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function debugfs(img: string, commands: string[], write = false): string {
  const f = join(dir, 'cmds');
  writeFileSync(f, commands.join('\n') + '\n');
  return execFileSync('debugfs', [...(write ? ['-w'] : []), '-f', f, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
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
    const tree = join(dir, 'tree');
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(join(tree, 'boot/grub'), { recursive: true });
    writeFileSync(join(tree, 'boot/grub/grub.cfg'), 'OLD '.repeat(1024));
    writeFileSync(join(tree, 'boot/grub/other'), 'KEEP'.repeat(1024));
    const img = join(dir, 'j.img');
    execFileSync('mke2fs', ['-q', '-F', ...mkfsArgs, '-b', '4096', '-d', tree, img, '32M']);
    const blk = (p: string) => execFileSync('debugfs', ['-R', `bmap ${p} 0`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const cfgBlock = blk('/boot/grub/grub.cfg');
    const otherBlock = blk('/boot/grub/other');
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
  for (let c = 0; c < 200; c++) {
    const bytes = base.slice();
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
