/**
 * The job queue on a real PostgreSQL (pg-boss): a host's operations are handed out at most its
 * per-host limit at a time, across workers, so a worker's slots never fill with operations that can
 * only wait for a busy host while another host's operations wait in the queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { havePostgres, postgres } from '../../test/support/postgres.ts';
import { hostGroup, pgBossQueue, type OperationJob } from './queue.ts';

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
