import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseState } from './lab.ts';

const good = {
  host: '127.0.0.1', port: 40000, user: 'root', keyPath: '/k', hostKey: 'ssh-ed25519 AAAA', pid: 1234, runDir: '/r',
  serialLog: '/r/serial.log', buildDir: '/b', startedAt: '2026-11-24T00:00:00Z',
};

test('parseState accepts a lab endpoint and nothing else', () => {
  assert.deepEqual(parseState(JSON.stringify(good)), good);
  for (const bad of [
    '', 'null', '[]', '{', JSON.stringify({ ...good, host: '10.0.0.1' }), JSON.stringify({ ...good, port: 70000 }),
    JSON.stringify({ ...good, pid: 1 }), JSON.stringify({ ...good, pid: '12' }), JSON.stringify({ ...good, keyPath: 3 }),
    JSON.stringify({ ...good, user: 'admin' }), '{"a":' + '['.repeat(100000),
  ]) {
    assert.equal(parseState(bad), null, bad.slice(0, 40));
  }
});

function pvhctl(args: string[], cache: string) {
  return spawnSync(process.execPath, ['bin/pvhctl.js', 'lab', ...args], { encoding: 'utf8', env: { ...process.env, PVHCTL_CACHE: cache } });
}

test('pvhctl lab: usage errors exit 2; status and down without a lab say so', () => {
  const cache = mkdtempSync(join(tmpdir(), 'pvhctl-labcli-'));
  try {
    assert.equal(pvhctl([], cache).status, 2);
    assert.equal(pvhctl(['sideways'], cache).status, 2);
    assert.equal(pvhctl(['up', 'down'], cache).status, 2);
    assert.equal(pvhctl(['status', '--frobnicate'], cache).status, 2);
    const st = pvhctl(['status'], cache);
    assert.equal(st.status, 1);
    assert.match(st.stderr, /not running/);
    const down = pvhctl(['down'], cache);
    assert.equal(down.status, 0);
    assert.match(down.stderr, /not running/);
    assert.equal(pvhctl(['--help'], cache).status, 0);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
