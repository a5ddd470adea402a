import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgres } from '../../test/support/postgres.ts';
import { openFleet } from '../fleet/fleet.ts';
import { startSwitch, startRollback } from '../fleet/switch.ts';
import { COPIED_TABLES, copyStore, tableSum } from './copy.ts';
import { customerKeys } from './customer-keys.ts';
import { openStore } from './store.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');
const FAST = { verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 };
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';

/** A dom0's history: a scanned simulated host, switches done, refused and rolled back, tokens, keys. */
async function history(dir: string): Promise<void> {
  const fleet = await openFleet({ dataDir: dir, ...FAST });
  const host = await fleet.store.addHost({
    name: 'dom0', transport: 'sim', endpoint: JSON.stringify({ guests: 12, seed: 5, pvOnly: 0.3, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 3,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const guests = await fleet.store.listGuests();
  const ops = await Promise.all(guests.slice(0, 8).map((g) => startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' })));
  const done = await Promise.all(ops.map((r) => (r.kind === 'started' ? r.finished : null)));
  const back = done.find((o) => o?.status === 'done')!;
  const rb = await startRollback(fleet.ctx, (await fleet.store.getGuestById(back.guest_id))!, 'op');
  if (rb.kind === 'started') await rb.finished;
  await fleet.store.addToken('operator', null);
  await fleet.store.addToken('customer', 'customer7');
  await customerKeys(fleet.store).add('alice', { algo: 'ssh-ed25519', key: KEY.split(' ')[1]!, fingerprint: 'SHA256:test', comment: 'alice@laptop' });
  await fleet.close();
}

test('store copy moves every row of a SQLite history into PostgreSQL, verified; refuses a non-empty target unless told', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-copy-'));
  try {
    await history(dir);
    const url = await (await postgres()).newDatabase();
    const from = await openStore(dir);
    const to = await openStore(url);
    const r = await copyStore(from, to, { replace: false });
    assert.ok(r.ok, r.ok ? '' : r.error);
    const rows = Object.fromEntries(r.tables.map((t) => [t.table, t.rows]));
    for (const t of ['hosts', 'guests', 'config_versions', 'operations', 'journal', 'audit', 'tokens', 'customer_keys']) assert.ok(rows[t]! > 0, `${t} copied no rows`);
    // Read back independently of copyStore's own check: the same sums on both sides, every config
    // version's bytes identical, and new rows numbered after the copied ones.
    for (const t of COPIED_TABLES) assert.deepEqual(await tableSum(to.db, t), await tableSum(from.db, t));
    for (const g of await from.listGuests()) {
      for (const v of await from.listConfigVersions(g.id)) {
        assert.ok(Buffer.from((await to.getConfigVersion(v.id))!.content).equals(Buffer.from((await from.getConfigVersion(v.id))!.content)));
      }
    }
    const maxOp = Math.max(...(await from.listOperations()).map((o) => o.id));
    const g = (await to.listGuests()).find((x) => x.health === 'ok')!;
    const next = await to.createOperationIfIdle({ guest_id: g.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 't' });
    assert.ok(next !== null && next.id > maxOp);
    // A second copy onto the now non-empty target is refused and writes nothing.
    const again = await copyStore(from, to, { replace: false });
    assert.equal(again.ok, false);
    assert.match(again.ok ? '' : again.error, /not empty .*--replace/);
    assert.notEqual(await to.getOperation(next!.id), undefined);
    await from.close();
    await to.close();
    // The command: refused without --replace (exit 1), copied with it (the extra operation gone).
    const cli = (...a: string[]) => spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', dir, '--to', url, ...a], { encoding: 'utf8' });
    const refused = cli();
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /not empty/);
    const ok = cli('--replace', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).tables, r.tables);
    const check = await openStore(url);
    assert.equal(await check.getOperation(next!.id), undefined);
    await check.close();
    assert.equal(spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', join(dir, 'nope'), '--to', url], { encoding: 'utf8' }).status, 1);
    assert.equal(spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', dir, '--to', dir], { encoding: 'utf8' }).status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
