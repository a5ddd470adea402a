import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

test('pvhctl on PATH from the checkout (bin/): --version from package.json under Node 24, no warnings', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  // The PATH a user has after `export PATH="$PWD/bin:$PATH"`: the system's Node (Debian's 20) comes
  // after it, and must not be the one that runs pvhctl.
  const r = spawnSync('pvhctl', ['--version'], { encoding: 'utf8', env: { PATH: `${join(ROOT, 'bin')}:/usr/local/bin:/usr/bin:/bin`, HOME: process.env.HOME ?? '/' } });
  assert.equal(r.error, undefined);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.match(r.stdout, new RegExp(`^pvhctl ${version.replaceAll('.', '\\.')} \\(Node\\.js v(\\d+)\\.`));
  assert.ok(Number(/Node\.js v(\d+)/.exec(r.stdout)![1]) >= 24, r.stdout);
});
