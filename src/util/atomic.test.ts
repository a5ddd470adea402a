import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceFileAtomically } from './atomic.ts';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'pvhctl-atomic-'));
}

test('replaces the content, keeps the previous version and the permission bits', async () => {
  const dir = scratch();
  try {
    const f = join(dir, 'web1.cfg');
    writeFileSync(f, 'old\n');
    chmodSync(f, 0o600);
    const now = () => new Date('2026-11-24T20:15:00.123Z');
    const r = await replaceFileAtomically(f, 'new\n', { now });
    assert.equal(readFileSync(f, 'utf8'), 'new\n');
    assert.equal(r.kept, `${f}.pvhctl-20261124T201500Z`);
    assert.equal(readFileSync(r.kept!, 'utf8'), 'old\n');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    // A second replace in the same second never overwrites the first kept version.
    const r2 = await replaceFileAtomically(f, 'newer\n', { now });
    assert.equal(r2.kept, `${f}.pvhctl-20261124T201500Z.1`);
    assert.equal(readFileSync(r.kept!, 'utf8'), 'old\n');
    assert.equal(readFileSync(r2.kept!, 'utf8'), 'new\n');
    assert.equal(readFileSync(f, 'utf8'), 'newer\n');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failure before the rename leaves the original untouched and no temp or kept file behind', async () => {
  const dir = scratch();
  try {
    const f = join(dir, 'web1.cfg');
    writeFileSync(f, 'original\n');
    await assert.rejects(
      replaceFileAtomically(f, 'half-done\n', {
        beforeRename: () => {
          throw new Error('disk full');
        },
      }),
      /disk full/,
    );
    assert.equal(readFileSync(f, 'utf8'), 'original\n');
    assert.deepEqual(readdirSync(dir), ['web1.cfg']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('creates a missing file (nothing to keep) and refuses a directory', async () => {
  const dir = scratch();
  try {
    const f = join(dir, 'new.cfg');
    const r = await replaceFileAtomically(f, 'x = 1\n');
    assert.equal(r.kept, null);
    assert.equal(readFileSync(f, 'utf8'), 'x = 1\n');
    await assert.rejects(replaceFileAtomically(dir, 'x'), /not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('replaces the target of a symlink, and refuses when the file changed since it was read', async () => {
  const dir = scratch();
  try {
    const real = join(dir, 'web1.cfg');
    const link = join(dir, 'auto-web1.cfg');
    writeFileSync(real, 'v1\n');
    symlinkSync('web1.cfg', link);
    const r = await replaceFileAtomically(link, 'v2\n', { expect: 'v1\n' });
    assert.equal(r.file, real);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(link, 'utf8'), 'v2\n');
    await assert.rejects(replaceFileAtomically(real, 'v3\n', { expect: 'v1\n' }), /changed since it was read/);
    assert.equal(readFileSync(real, 'utf8'), 'v2\n');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
