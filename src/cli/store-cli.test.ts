import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgres } from '../../test/support/postgres.ts';
import { openStore, SQLITE_FILE } from '../store/store.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('--store URL (or PVHCTL_STORE) puts every command on PostgreSQL; the data directory keeps no SQLite file', async () => {
  const url = await (await postgres()).newDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-store-cli-'));
  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8', env: { ...process.env, PVHCTL_STORE: '', ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  try {
    assert.equal(run(['--store', url, 'host', 'add', 'sim1', '--sim', '6:3']).code, 0);
    const scan = run(['scan', '--json', `--store=${url}`]);
    assert.equal(scan.code, 0, scan.err);
    assert.equal(JSON.parse(scan.out).guests, 6);
    const list = JSON.parse(run(['guest', 'list', '--json'], { PVHCTL_STORE: url }).out) as { name: string; canBecome: string }[];
    assert.equal(list.length, 6);
    const g = list.find((x) => x.canBecome === 'pvh')!;
    // On PostgreSQL a switch is queued for a worker; the command follows it to its end.
    const worker = spawn(process.execPath, [BIN, '--store', url, 'worker', '--data-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    worker.stderr.on('data', (b: Buffer) => (log += b.toString()));
    const sw = run(['switch', g.name, '--to', 'pvh', '--json', '--store', url]);
    assert.equal(sw.code, 0, `${sw.err}\n${log}`);
    worker.kill('SIGTERM');
    const [code] = await once(worker, 'exit');
    assert.equal(code, 0, log);
    assert.match(log, /ready[\s\S]*stopping[\s\S]*stopped/);
    assert.equal(existsSync(join(dir, SQLITE_FILE)), false, 'the SQLite store was opened too');
    // What the commands wrote is in PostgreSQL, read back directly.
    const store = await openStore(url);
    const [row] = await store.getGuest(g.name);
    assert.equal(row?.current_type, 'pvh');
    assert.equal((await store.listOperations({ guestId: row!.id }))[0]?.status, 'done');
    await store.close();
    const bad = run(['--store', 'mysql://x/y', 'guest', 'list']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /PVHCTL_STORE: store.url: expected a postgres or postgresql:\/\/ URL, got mysql:\/\//);
    assert.equal(run(['guest', 'list', '--store']).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
