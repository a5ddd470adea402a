/**
 * The job queue on a real PostgreSQL (pg-boss): a host's operations are handed out at most its
 * per-host limit at a time, across workers, so a worker's slots never fill with operations that can
 * only wait for a busy host while another host's operations wait in the queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { havePostgres, postgres } from '../../test/support/postgres.ts';
import { sql } from 'kysely';
import { hostGroup, pgBossQueue, QUEUE, type OperationJob } from './queue.ts';
import { openFleet } from './fleet.ts';
import type { Store } from '../store/store.ts';
import { startSwitch, startSwitches } from './switch.ts';
import { startPower } from './power.ts';
import { startWorker } from './worker.ts';
import { thisMachine } from '../drivers/machine.ts';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createCampaign, showCampaign, startCampaign, tickCampaign } from './campaign.ts';

test('hostGroup: the tier is the host limit, bounded', () => {
  assert.deepEqual(hostGroup({ hostId: 7, limit: 4 }), { id: 'host-7', tier: '4' });
  assert.deepEqual(hostGroup({ hostId: 7, limit: 0 }), { id: 'host-7', tier: '1' });
  assert.deepEqual(hostGroup({ hostId: 7, limit: 9999 }), { id: 'host-7', tier: '256' });
});

test('a busy host does not hold a worker: host A (limit 1) queued first, host B still starts while A runs', { skip: !havePostgres() && 'no PostgreSQL' }, async () => {
  const url = await (await postgres()).newDatabase();
  const queue = await pgBossQueue(url);
  try {
    const hostOf = new Map<number, number>();
    // Three operations on host 1 (limit 1), then one on host 2 (limit 1).
    for (const [op, host] of [[1, 1], [2, 1], [3, 1], [4, 2]] as const) {
      hostOf.set(op, host);
      await queue.submit({ operationId: op }, { hostId: host, limit: 1 });
    }
    const events: string[] = [];
    const active = new Map<number, number>();
    let worst = 0;
    let done = 0;
    let allDone!: () => void;
    const finished = new Promise<void>((r) => (allDone = r));
    await queue.work(
      async (job: OperationJob) => {
        const host = hostOf.get(job.operationId)!;
        const n = (active.get(host) ?? 0) + 1;
        active.set(host, n);
        worst = Math.max(worst, n);
        events.push(`start ${job.operationId}`);
        await new Promise((r) => setTimeout(r, 1500));
        events.push(`end ${job.operationId}`);
        active.set(host, active.get(host)! - 1);
        if (++done === 4) allDone();
      },
      { concurrency: 2 },
    );
    await finished;
    assert.equal(worst, 1, `a host's operations overlapped: ${events.join(', ')}`);
    // Host 2's operation starts before host 1's first one ends: the second slot was not taken by
    // an operation waiting for host 1.
    assert.ok(events.indexOf('start 4') < events.indexOf('end 1'), events.join(', '));
  } finally {
    await queue.stopWork();
    await queue.close();
  }
});

/** A fleet on a fresh PostgreSQL database with the pg-boss queue, and one scanned simulated host of six guests. */
async function queuedFleet(maxParallel: number) {
  const url = await (await postgres()).newDatabase();
  const queue = await pgBossQueue(url);
  const fleet = await openFleet({ dataDir: ':memory:', store: url, recover: false, queue });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 6, seed: 3, pvOnly: 0, bootMs: 3, shutdownMs: 3 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: maxParallel,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  return { fleet, queue, host, url };
}

test('many switches at once on PostgreSQL: their jobs are written in the transaction that makes the operations, or not at all', { skip: !havePostgres() && 'no PostgreSQL' }, async () => {
  const { fleet, queue, host } = await queuedFleet(2);
  try {
    const reqs = (await fleet.store.listGuests()).map((g) => ({ guest: g, to: 'pvh' as const }));
    const jobs = async () => (await sql<{ data: OperationJob; group_id: string; group_tier: string }>`select data, group_id, group_tier from pgboss.job where name = ${QUEUE}`.execute(fleet.store.db)).rows;
    // The transaction fails after the jobs were written: neither they nor the operations remain.
    fleet.ctx.queue = { ...queue, submitMany: async (j, within) => { await queue.submitMany(j, within); throw new Error('after the jobs'); } };
    await assert.rejects(startSwitches(fleet.ctx, reqs, { force: false, actor: 'op' }), /after the jobs/);
    assert.deepEqual(await jobs(), []);
    assert.deepEqual(await fleet.store.unfinishedOperations(), []);
    fleet.ctx.queue = queue;
    const batch = await startSwitches(fleet.ctx, reqs, { force: false, actor: 'op' });
    assert.equal(batch.started.length, 6);
    assert.ok(batch.started.every((s) => s.run.where === 'queued' && s.operation.owner === null));
    const rows = await jobs();
    assert.deepEqual(rows.map((r) => r.data.operationId).sort((a, b) => a - b), batch.started.map((s) => s.operation.id).sort((a, b) => a - b));
    assert.ok(rows.every((r) => r.group_id === `host-${host.id}` && r.group_tier === '2'), JSON.stringify(rows));
    // Asked again while they wait in the queue: all busy, no second job.
    assert.equal((await startSwitches(fleet.ctx, reqs, { force: false, actor: 'op' })).busy.length, 6);
    assert.equal((await jobs()).length, 6);
  } finally {
    await fleet.close();
  }
});

test('a campaign tick on PostgreSQL asks for its slot\'s switches in one transaction with their jobs: a failure after the jobs leaves neither', { skip: !havePostgres() && 'no PostgreSQL' }, async () => {
  const { fleet, queue } = await queuedFleet(3);
  try {
    const clock = { now: () => new Date('2026-12-08T02:30:00Z') };
    const notifier = { send: async () => ({ status: 'sent' as const, messageId: '<t@test>' }) };
    await createCampaign(fleet.store, { name: 'q', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'daily 02:00-05:00' }, settings: { canary: 0, noticeDays: 0 }, actor: 'op' });
    await startCampaign(fleet.store, 'q', 'op', clock);
    const jobs = async () => (await sql<{ data: OperationJob }>`select data from pgboss.job where name = ${QUEUE}`.execute(fleet.store.db)).rows.map((r) => r.data.operationId);
    let calls = 0;
    fleet.ctx.queue = { ...queue, submitMany: async (j, within) => { calls++; await queue.submitMany(j, within); throw new Error('after the jobs'); } };
    await assert.rejects(tickCampaign(fleet.ctx, 'q', { clock, notifier }), /after the jobs/);
    assert.equal(calls, 1);
    assert.deepEqual(await jobs(), []);
    assert.deepEqual(await fleet.store.unfinishedOperations(), []);
    // The claimed rows wait for the tick that finds their claim stale (step 1) and plans them again.
    assert.deepEqual((await showCampaign(fleet.store, 'q')).guests.filter((g) => g.status === 'submitting').length, 3);
    await sql`update campaign_guests set status = 'planned', claimed_at = null where status = 'submitting'`.execute(fleet.store.db);
    fleet.ctx.queue = queue;
    const tick = await tickCampaign(fleet.ctx, 'q', { clock, notifier });
    assert.ok(tick.kind === 'ran' && tick.submitted.length === 3, JSON.stringify(tick));
    const rows = (await showCampaign(fleet.store, 'q')).guests.filter((g) => g.status === 'submitted');
    assert.deepEqual((await jobs()).sort((a, b) => a - b), rows.map((g) => g.operation_id!).sort((a, b) => a - b));
  } finally {
    await fleet.close();
  }
});

/** The jobs in the queue's table, by operation id. */
const jobsOf = async (db: Store['db']) =>
  (await sql<{ data: OperationJob }>`select data from pgboss.job where name = ${QUEUE}`.execute(db)).rows.map((r) => r.data.operationId).sort((a, b) => a - b);

test('one switch or power action on PostgreSQL: a queue that throws is answered in one line, and leaves no operation and the guest not busy', { skip: !havePostgres() && 'no PostgreSQL' }, async () => {
  const { fleet, queue } = await queuedFleet(2);
  try {
    const [guest] = await fleet.store.listGuests();
    const audit = async () => (await sql<{ n: number }>`select count(*)::int as n from audit`.execute(fleet.store.db)).rows[0]!.n;
    const auditBefore = await audit();
    const down = async () => {
      throw new Error('connect ECONNREFUSED /run/postgresql\n    at TCPConnectWrap');
    };
    fleet.ctx.queue = { ...queue, submit: down, submitMany: down };
    for (const ask of [() => startSwitch(fleet.ctx, guest!, 'pvh', { force: false, actor: 'op' }), () => startPower(fleet.ctx, guest!, 'reboot', { actor: 'op' })]) {
      const r = await ask();
      assert.equal(r.kind, 'refused');
      assert.ok(r.kind === 'refused');
      assert.deepEqual(r.refusal, { code: 'queue-unavailable', detail: 'connect ECONNREFUSED /run/postgresql' });
      assert.deepEqual(await fleet.store.unfinishedOperations(), []);
      assert.equal((await fleet.store.getGuestById(guest!.id))!.health, guest!.health);
      assert.equal(await audit(), auditBefore, 'an audit row of a request that was not made');
      assert.deepEqual(await jobsOf(fleet.store.db), []);
    }
    // The queue back: the guest is not busy, and the operation goes with its job.
    fleet.ctx.queue = queue;
    const r = await startSwitch(fleet.ctx, guest!, 'pvh', { force: false, actor: 'op' });
    assert.ok(r.kind === 'started');
    // No worker runs it here: its follower ends with the store.
    void r.finished.catch(() => {});
    assert.deepEqual(await jobsOf(fleet.store.db), [r.operation.id]);
  } finally {
    await fleet.close();
  }
});

test('an API process killed (SIGKILL) as it queues a switch or a reboot on PostgreSQL: the operation and its job both exist or neither, the guest never left busy for good', { skip: !havePostgres() && 'no PostgreSQL' }, async () => {
  const { fleet, url } = await queuedFleet(2);
  const CHILD = join(import.meta.dirname, 'testdata', 'queue-crash-child.ts');
  try {
    const guests = await fleet.store.listGuests();
    let i = 0;
    for (const action of ['switch', 'reboot'] as const) {
      for (const where of ['before', 'after', 'returned'] as const) {
        const guest = guests[i++]!;
        const c = spawnSync(process.execPath, [CHILD, url, guest.name, action, where], { encoding: 'utf8' });
        assert.equal(c.signal, 'SIGKILL', `${action} ${where}: ${c.stdout}${c.stderr}`);
        const ops = await fleet.store.listOperations({ guestId: guest.id });
        const jobs = await jobsOf(fleet.store.db);
        const health = (await fleet.store.getGuestById(guest.id))!.health;
        if (where === 'returned') {
          // Committed: the operation and its job, for a worker to run.
          assert.equal(ops.length, 1, `${action} ${where}`);
          assert.ok(jobs.includes(ops[0]!.id), `${action} ${where}: operation ${ops[0]!.id} has no job`);
          continue;
        }
        assert.deepEqual(ops, [], `${action} killed ${where} the job was written: operation ${ops[0]?.id} left ${ops[0]?.status} with owner ${ops[0]?.owner}, job ${jobs.includes(ops[0]?.id ?? -1)}`);
        assert.notEqual(health, 'switching');
        // Not refused as busy: a later request on the guest goes through.
        const r = await startPower(fleet.ctx, guest, 'reboot', { actor: 'op' });
        assert.ok(r.kind === 'started', `${action} ${where}: ${JSON.stringify(r)}`);
        void r.finished.catch(() => {});
      }
    }
  } finally {
    await fleet.close();
  }
});

test('a worker on another machine than a --local host\'s does not take its operation: it says why and hands the job back, the operation untouched', { skip: !havePostgres() && 'no PostgreSQL' }, async () => {
  const { fleet, queue } = await queuedFleet(2);
  const lines: string[] = [];
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  try {
    const host = await fleet.store.addHost({
      name: 'xen-a', transport: 'local', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null, machine: 'hostname:dom0-a',
    });
    const guest = await fleet.store.upsertGuest({ name: 'web1', host_id: host.id, owner: null, config_path: '/etc/xen/web1.cfg', current_type: 'pv', arch: null, verdict: null, verdict_at: null, attention: null });
    const r = await startPower(fleet.ctx, guest, 'reboot', { actor: 'op' });
    assert.ok(r.kind === 'started');
    void r.finished.catch(() => {});
    worker = await startWorker(fleet.ctx, queue, { concurrency: 2, sweepMs: 60_000, log: (l) => lines.push(l) });
    const said = `operation ${r.operation.id}: not taken: host xen-a is the local xl of machine hostname:dom0-a, not of this one (${thisMachine()}): run pvhctl there, or add the host with --ssh`;
    for (let i = 0; !lines.includes(said); i++) {
      assert.ok(i < 3000, `never said: ${lines.join('\n')}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const op = (await fleet.store.getOperation(r.operation.id))!;
    assert.deepEqual([op.status, op.owner], ['pending', null]);
    assert.deepEqual(await fleet.store.journalOf(op.id), []);
    // Handed back: the job failed here and waits to be retried, by a worker on dom0-a in the end.
    const job = (await sql<{ state: string; retry_count: number; output: { message?: string } | null }>`select state, retry_count, output from pgboss.job where name = ${QUEUE}`.execute(fleet.store.db)).rows;
    assert.equal(job.length, 1);
    assert.ok(['retry', 'created', 'active'].includes(job[0]!.state), JSON.stringify(job));
  } finally {
    await worker?.stop();
    await fleet.close();
  }
});
