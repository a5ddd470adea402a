import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHead } from './read-head.ts';

test('reads at most the limit from a regular file, and all of a smaller one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-read-head-'));
  try {
    const f = join(dir, 'big');
    writeFileSync(f, Buffer.alloc(3 << 20, 0x61));
    assert.equal(readHead(f, 1025).length, 1025);
    writeFileSync(f, 'secret\n');
    assert.equal(readHead(f, 1025).toString(), 'secret\n');
    writeFileSync(f, '');
    assert.equal(readHead(f, 10).length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Hang guards, not speed limits: before, a FIFO blocked the read forever and /dev/zero read until
// Node gave up at 2 GiB.
test('refuses a FIFO and a character device in one line, without blocking', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-read-head-'));
  try {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => readHead(fifo, 1024), (e: NodeJS.ErrnoException) => e.code === 'ENOTREG' && e.message === `${fifo}: not a regular file`);
    assert.throws(() => readHead('/dev/zero', 1024), (e: NodeJS.ErrnoException) => e.code === 'ENOTREG' && !e.message.includes('\n'));
    assert.throws(() => readHead(join(dir, 'missing'), 1024), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    // /dev/null is the empty file: PVHCTL_CONFIG=/dev/null means no settings file.
    assert.equal(readHead('/dev/null', 1024).length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
