import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { makeStore, openStore, SQLITE_FILE } from './store.ts';
import type { Tables } from './schema.ts';
import { STORES } from '../../test/support/stores.ts';
import { sql } from 'kysely';
import { migrations } from './migrations.ts';
import { openDriver } from '../drivers/open.ts';
import { decodeVerdict, encodeVerdict } from '../fleet/stored-verdict.ts';
import { outcomeWords } from '../fleet/reasons.ts';

test('a data directory gets one WAL-mode SQLite file, migrated once, reopened intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-store-'));
  try {
    const s = await openStore(dir);
    const h = await s.addHost({ name: 'xen1', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    await s.upsertGuest({ name: 'web1', host_id: h.id, owner: 'alice', config_path: '/etc/xen/web1.cfg', current_type: 'pv', arch: 'x86_64', verdict: null, verdict_at: null, attention: null });
    await s.close();
    assert.ok(existsSync(join(dir, SQLITE_FILE)));
    const raw = new DatabaseSync(join(dir, SQLITE_FILE));
    assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    raw.close();
    const again = await openStore(dir);
    const guests = await again.listGuests({ owner: 'alice' });
    assert.equal(guests.length, 1);
    assert.equal(guests[0]?.name, 'web1');
    assert.deepEqual(await again.listGuests({ owner: 'bob' }), []);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const store of STORES) {
  test(`migration 0970 gives old outcome rows a code where their columns decide it; rows whose cause was only prose keep it and still read (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    const g = await s.upsertGuest({ name: 'g', host_id: h.id, owner: null, config_path: '/etc/xen/g.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
    // Rows as pvhctl wrote them before outcome codes: prose only.
    const rows = [
      { kind: 'switch', status: 'done', reason: 'The server now runs in PVH mode.', by: 'op' },
      { kind: 'reboot', status: 'done', reason: 'The server was restarted.', by: 'op' },
      { kind: 'rollback', status: 'rolled-back', reason: 'The server was put back in PV mode with its earlier settings.', by: 'customer:"o\\\'brien"' },
      { kind: 'switch', status: 'rolled-back', reason: 'The switch to PVH did not work: the server crashed while starting. The server was restarted in PV mode with its settings unchanged.', by: 'op' },
      { kind: 'switch', status: 'needs-attention', reason: 'The server could not be brought back in PV mode automatically (the host could not be reached).', by: 'op' },
      { kind: 'switch', status: 'refused', reason: 'Another change to this server is in progress.', by: 'op' },
    ] as const;
    await migrations['0970_operation_outcome_codes']!.down!(s.db);
    const ids: number[] = [];
    for (const r of rows) {
      const o = await s.db.insertInto('operations').values({ guest_id: g.id, kind: r.kind, from_type: 'pv', to_type: 'pvh', status: r.status, step: 'created', force: 0, kept_version_id: null, new_version_id: null, reason: r.reason, detail: 'x', requested_by: r.by, created_at: 'x', updated_at: 'x' }).returning('id').executeTakeFirstOrThrow();
      ids.push(o.id);
    }
    await migrations['0970_operation_outcome_codes']!.up(s.db);
    const after = await Promise.all(ids.map(async (id) => (await s.getOperation(id))!));
    assert.deepEqual(after.map((o) => [o.reason_code, o.reason_params === null ? null : JSON.parse(o.reason_params)]), [
      ['switched', { from: 'pv', to: 'pvh' }],
      ['powered', { action: 'reboot' }],
      ['undone', { from: 'pv', by: rows[2].by }],
      [null, null],
      [null, null],
      [null, null],
    ]);
    // Every row reads as it did: the coded ones' words are the prose they had, the others are their prose.
    assert.deepEqual(after.map((o) => outcomeWords(o, 'customer')), rows.map((r) => r.reason));
    await migrations['0970_operation_outcome_codes']!.down!(s.db);
    assert.deepEqual((await Promise.all(ids.map((id) => s.getOperation(id)))).map((o) => o!.reason_code), [null, null, null, null, null, null]);
    await s.close();
  });

  test(`migration 0530 moves a simulated host's shape into its endpoint and drops the simulator's column (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    // A store as it was before 0530: the column back, a demo's sim host and an ssh host in it.
    await migrations['0530_sim_spec_in_endpoint']!.down!(s.db);
    const spec = '{"guests":4,"seed":1,"bootMs":2000,"shutdownMs":1000}';
    await sql`INSERT INTO hosts (name, transport, endpoint, key_path, config_dir, role, max_parallel, sim_spec, created_at)
      VALUES ('sim', 'sim', NULL, NULL, '/etc/xen', 'pv-pvh', 2, ${spec}, 'x'), ('xen1', 'ssh', 'root@10.0.0.5:22', '/k', '/etc/xen', 'pv-pvh', 2, NULL, 'x')`.execute(s.db);
    await migrations['0530_sim_spec_in_endpoint']!.up(s.db);
    const sim = (await s.getHost('sim'))!;
    assert.equal(sim.endpoint, spec);
    assert.equal('sim_spec' in sim, false, 'the column is gone');
    assert.equal((await s.getHost('xen1'))!.endpoint, 'root@10.0.0.5:22');
    const driver = openDriver({ ...sim, host_key: null }, { simDir: null });
    assert.equal((await driver.listDomains()).length, 4, 'the demo host keeps its guests');
    await s.close();
  });

  test(`migration 0520 gives version-1 verdicts a version and keeps newer rows as they are (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    const v1 = '{"pv":{"capable":true,"abi":"xen-3.0-x86_64","reason":"has a PV entry point"},"pvh":{"capable":false,"reason":"no PHYS32_ENTRY note"},"arch":"x86_64","source":"kernel","kernelVersion":"6.1.0-56-amd64"}';
    const v2 = encodeVerdict({ ...decodeVerdict(v1)!, source: 'disk', inspection: { verdict: 'needs-kernel', install: 'linux-image-amd64', reasons: ['r'] } });
    const old = await s.upsertGuest({ name: 'old', host_id: h.id, owner: null, config_path: '/etc/xen/old.cfg', current_type: 'pv', arch: null, verdict: v1, verdict_at: null, attention: null });
    const now = await s.upsertGuest({ name: 'new', host_id: h.id, owner: null, config_path: '/etc/xen/new.cfg', current_type: 'pv', arch: null, verdict: v2, verdict_at: null, attention: null });
    const none = await s.upsertGuest({ name: 'none', host_id: h.id, owner: null, config_path: '/etc/xen/none.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
    await migrations['0520_verdict_version']!.up(s.db);
    const after = async (id: number) => (await s.getGuestById(id))!.verdict;
    const migrated = JSON.parse((await after(old.id))!);
    assert.equal(migrated.version, 2);
    assert.equal(migrated.inspection, null);
    assert.deepEqual(decodeVerdict(await after(old.id)), decodeVerdict(v1));
    assert.equal(await after(now.id), v2);
    assert.equal(await after(none.id), null);
    // Down and up again: the same text (every step safe to run twice).
    await migrations['0520_verdict_version']!.down!(s.db);
    assert.equal(await after(old.id), `{"inspection":null,${v1.slice(1)}`);
    await migrations['0520_verdict_version']!.up(s.db);
    await migrations['0520_verdict_version']!.up(s.db);
    assert.deepEqual(JSON.parse((await after(old.id))!), migrated);
    await s.close();
  });

  test(`config versions come back byte-identical, whatever the bytes (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    const g = await s.upsertGuest({ name: 'g', host_id: h.id, owner: null, config_path: '/etc/xen/g.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
    const bytes = new Uint8Array([0, 0xff, 0xfe, 0x0d, 0x0a, 0x80, ...new TextEncoder().encode('kernel = "/boot/vmlinuz"\n')]);
    const v = await s.keepConfig(g.id, bytes, 'before-switch', null);
    const back = await s.getConfigVersion(v.id);
    assert.deepEqual(new Uint8Array(back!.content), bytes);
    assert.equal(back!.sha256.length, 64);
    await s.close();
  });

  test(`journal entries are numbered per operation and concurrent transactions do not interleave (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    const guests = await Promise.all(['g1', 'g2', 'g3'].map((name) => s.upsertGuest({ name, host_id: h.id, owner: null, config_path: `/etc/xen/${name}.cfg`, current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null })));
    const ops = await Promise.all(guests.map((g) => s.createOperation({ guest_id: g.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'test' })));
    // Each step in its own transaction and all at once: on PostgreSQL these run on separate
    // connections, so only the row lock and the unique (operation, seq) keep the numbers apart.
    await Promise.all(
      ops.flatMap((op) => (['pre-check', 'keep-config', 'shutdown', 'write-config', 'create', 'verify'] as const).map((step) => s.tx((t) => s.journal(op.id, step, 'begin', null, t)))),
    );
    await Promise.all(ops.map((op) => s.journal(op.id, 'verify', 'done', null)));
    for (const op of ops) {
      assert.deepEqual((await s.journalOf(op.id)).map((j) => j.seq), [1, 2, 3, 4, 5, 6, 7]);
    }
    assert.equal((await s.unfinishedOperations()).length, 3);
    await s.updateOperation(ops[0]!.id, { status: 'done' });
    assert.equal((await s.unfinishedOperations()).length, 2);
    await s.close();
  });

  test(`a failed transaction leaves nothing behind (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    await assert.rejects(
      s.tx(async (t) => {
        await t.insertInto('audit').values({ at: 'x', actor: 'a', action: 'b', target: 'c', detail: null }).execute();
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.deepEqual(await s.listAudit(), []);
    await s.close();
  });

  test(`one unfinished operation per guest, checked inside the transaction and by the database (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    const g = await s.upsertGuest({ name: 'g', host_id: h.id, owner: null, config_path: '/etc/xen/g.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
    const o = { guest_id: g.id, kind: 'switch' as const, from_type: 'pv' as const, to_type: 'pvh' as const, force: 0, requested_by: 'test' };
    // Eight requests at once: exactly one operation is created, the rest are told the guest is busy.
    const made = await Promise.all(Array.from({ length: 8 }, () => s.createOperationIfIdle(o, (t, op) => s.audit('test', 'switch', g.name, String(op.id), t))));
    assert.equal(made.filter((m) => m !== null).length, 1);
    assert.equal((await s.listAudit()).length, 1, 'the refused requests left no audit row');
    // The database itself refuses a second unfinished operation, whoever inserts it.
    await assert.rejects(s.createOperation(o));
    await s.updateOperation(made.find((m) => m !== null)!.id, { status: 'done' });
    assert.notEqual(await s.createOperationIfIdle(o), null, 'a finished operation does not block the next');
    await s.close();
  });

  test(`many operations in one transaction: busy guests and guests named twice are skipped, concurrent batches never make two per guest (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    // More guests than one statement's rows (BULK_ROWS), so the batch spans statements.
    const guests: Awaited<ReturnType<typeof s.upsertGuest>>[] = [];
    for (let i = 0; i < 1200; i++) guests.push(await s.upsertGuest({ name: `g${i}`, host_id: h.id, owner: null, config_path: `/etc/xen/g${i}.cfg`, current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null }));
    const req = (id: number) => ({ guest_id: id, kind: 'switch' as const, from_type: 'pv' as const, to_type: 'pvh' as const, force: 0, requested_by: 'test' });
    const busy = await s.createOperationIfIdle(req(guests[7]!.id));
    assert.notEqual(busy, null);
    const also = async (t: Parameters<Parameters<typeof s.createOperationsIfIdle>[1] & object>[0], ops: { guest_id: number }[]) => {
      await s.setGuestsHealth(ops.map((o) => o.guest_id), 'switching', t);
      await s.auditMany(ops.map((o) => ({ actor: 'test', action: 'switch', target: String(o.guest_id), detail: null })), t);
    };
    // Four overlapping batches at once, two of them in reverse order (each names guest 3 twice):
    // every guest gets one operation, and no batch fails on a deadlock.
    const batch = (from: number, i: number) => {
      const list = [req(guests[3]!.id), ...guests.slice(from, from + 600).map((g) => req(g.id)), req(guests[3]!.id)];
      return i % 2 === 1 ? list.reverse() : list;
    };
    const batches = await Promise.all([0, 300, 600, 900].map((from, i) => s.createOperationsIfIdle(batch(from, i), also, 'queued')));
    const made = batches.flat();
    assert.equal(made.length, 1199, 'one per guest, none for the busy one');
    assert.equal(new Set(made.map((o) => o.guest_id)).size, 1199);
    assert.ok(made.every((o) => o.owner === null && o.status === 'pending'), 'queued: no owner until a worker claims it');
    const unfinished = await s.unfinishedOperations();
    assert.equal(unfinished.length, 1200);
    assert.equal((await s.listAudit(5000)).length, 1199, 'an audit row for each operation made, none for the skipped');
    assert.equal((await s.listGuests({ health: 'switching' })).length, 1199);
    // A sweep for dead owners reads what is in flight, not the queued backlog.
    assert.deepEqual((await s.inFlightOperations()).map((o) => o.id), [busy!.id]);
    await s.updateOperation(made[0]!.id, { status: 'running' });
    assert.deepEqual((await s.inFlightOperations()).map((o) => o.id).sort((a, b) => a - b), [busy!.id, made[0]!.id].sort((a, b) => a - b));
    await s.updateOperation(made[0]!.id, { status: 'done' });
    // All or nothing: a batch whose `also` fails leaves no operation behind.
    await s.updateOperation(busy!.id, { status: 'done' });
    await assert.rejects(s.createOperationsIfIdle([req(guests[7]!.id)], async () => { throw new Error('boom'); }), /boom/);
    assert.equal((await s.unfinishedOperations()).length, 1198);
    assert.deepEqual(await s.createOperationsIfIdle([]), []);
    await s.close();
  });
}

for (const store of STORES) {
  test(`a step journaled many times at once gets its own numbers and marks the operation running at it (${store.kind})`, async () => {
    const s = await openStore(await store.location());
    const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
    const g = await s.upsertGuest({ name: 'g', host_id: h.id, owner: null, config_path: '/etc/xen/g.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
    const op = await s.createOperation({ guest_id: g.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'test' });
    await s.journalStep(op.id, 'pre-check', 'begin', 'before: running', { prior_state: 'running' });
    // On PostgreSQL each runs on its own connection: the statements race for the same next number.
    const entries = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((d) => s.journalStep(op.id, 'shutdown', 'begin', d)));
    assert.deepEqual(entries.map((e) => e.seq).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual((await s.journalOf(op.id)).map((j) => j.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const after = (await s.getOperation(op.id))!;
    assert.equal(after.status, 'running');
    assert.equal(after.step, 'shutdown');
    assert.equal(after.prior_state, 'running', 'a step that does not name the run state before keeps it');
    await assert.rejects(s.journalStep(op.id + 1000, 'shutdown', 'begin', null), /not found|FOREIGN KEY|foreign key/);
    await s.close();
  });
}

test('on PostgreSQL a journaled step is one statement, not a transaction of several', { skip: !STORES.some((s) => s.kind === 'postgres') }, async () => {
  const url = await STORES.find((s) => s.kind === 'postgres')!.location();
  (await openStore(url)).close(); // migrated
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  let sent = 0;
  pool.on('connect', (c) => {
    const query = c.query.bind(c) as (...a: unknown[]) => unknown;
    c.query = ((...a: unknown[]) => {
      sent++;
      return query(...a);
    }) as typeof c.query;
  });
  const s = makeStore(new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) }), 'counted');
  const h = await s.addHost({ name: 'h', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null });
  const g = await s.upsertGuest({ name: 'g', host_id: h.id, owner: null, config_path: '/etc/xen/g.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
  const op = await s.createOperation({ guest_id: g.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'test' });
  sent = 0;
  await s.journalStep(op.id, 'pre-check', 'begin', null, { prior_state: 'stopped' });
  assert.equal(sent, 1);
  assert.equal((await s.getOperation(op.id))!.prior_state, 'stopped');
  await s.close();
});
