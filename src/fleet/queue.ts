/**
 * The job engine behind operations, as one small interface: `submit` hands an operation to
 * whoever runs them, `work` takes operations and runs them, `stop` stops taking new ones and waits
 * for those in flight. On PostgreSQL it is pg-boss (plain Postgres, durable jobs, heartbeats), so
 * any number of `pvhctl worker` processes on any machines share the work; the embedded default
 * (SQLite) never calls this: it runs an operation in the process that asked for it.
 */
import { PgBoss } from 'pg-boss';

/** What a job carries: only the operation's id; the store holds everything else. */
export type OperationJob = { operationId: number };

/** The host an operation acts on and its per-host limit (`hosts.max_parallel`). */
export type HostGroup = { hostId: number; limit: number };

/** The largest per-host limit (the `limits.max_parallel` setting's bound). */
export const MAX_HOST_LIMIT = 256;

/**
 * pg-boss's global group concurrency, one tier per possible limit: a job whose host already has
 * `limit` operations active is not handed out, so a worker never fills its slots with operations
 * that can only wait for their host while other hosts sit idle (head-of-line blocking). The row
 * lock in the store (takeHostSlot) still decides; this only keeps the wait out of the workers.
 */
const GROUP_CONCURRENCY = { default: 1, tiers: Object.fromEntries(Array.from({ length: MAX_HOST_LIMIT }, (_, i) => [String(i + 1), i + 1])) };

/**
 * The pg-boss group of an operation on a host with a per-host limit.
 * @example
 * hostGroup({ hostId: 7, limit: 4 }) // => { id: 'host-7', tier: '4' }
 */
export function hostGroup(g: HostGroup): { id: string; tier: string } {
  const limit = Math.min(MAX_HOST_LIMIT, Math.max(1, Math.trunc(g.limit)));
  return { id: `host-${g.hostId}`, tier: String(limit) };
}

/**
 * Runs SQL inside the caller's open transaction (pg-boss's `db` option): jobs written through it
 * commit or vanish with the operations they carry, so no operation is left queued without a job.
 */
export type SqlRunner = { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> };

export type OperationQueue = {
  /** Queues an operation on a host; at most the host's limit of its operations are handed out at once. */
  submit(job: OperationJob, host: HostGroup): Promise<void>;
  /** Queues many operations in one statement, inside the transaction `within` when given (see SqlRunner). */
  submitMany(jobs: { job: OperationJob; host: HostGroup }[], within?: SqlRunner): Promise<void>;
  /** Runs `handler` for each job, at most `concurrency` at once in this process. */
  work(handler: (job: OperationJob) => Promise<void>, opts: { concurrency: number }): Promise<void>;
  /** Stops taking jobs; resolves when the handlers in flight have returned. */
  stopWork(): Promise<void>;
  close(): Promise<void>;
};

/**
 * How long an idle poller waits before asking again. pg-boss runs one poller per concurrent job
 * (localConcurrency), and a poller whose job has just ended asks again at once, so under load a
 * freed slot is refilled without this wait; it only paces the pollers that found nothing. Each
 * such ask is a query with the per-host group counts: 108 idle pollers asking every 0.5 s cost
 * PostgreSQL about a fifth of a core (docs/benchmarks.md, "Fleet scale"); every 2 s (pg-boss's
 * default), a quarter of that. The price: a job sent to an idle worker waits up to 2 s.
 */
const POLL_SECONDS = 2;

/** The pg-boss queue's name. */
export const QUEUE = 'pvhctl-operations';

/**
 * The queue on PostgreSQL at `url` (pg-boss keeps its tables in the `pgboss` schema). A job whose
 * handler throws is retried; a job whose worker died is failed by pg-boss's monitor once its
 * heartbeat stops (heartbeatSeconds) and retried on another worker, which resumes the operation
 * from its journal (src/fleet/worker.ts).
 * @example
 * const q = await pgBossQueue('postgresql://pvhctl@db1/pvhctl');
 * await q.submit({ operationId: 12 }, { hostId: 3, limit: 4 });
 */
export async function pgBossQueue(url: string): Promise<OperationQueue> {
  const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 4, schedule: false });
  // A lost connection is reported here and retried by pg-boss; it must not end the process.
  boss.on('error', () => {});
  await boss.start();
  if ((await boss.getQueue(QUEUE)) === null) {
    // Two processes may create it at once; the loser finds it there.
    await boss.createQueue(QUEUE, { retryLimit: 10_000, retryDelay: 1, heartbeatSeconds: 10 }).catch(async (err: unknown) => {
      if ((await boss.getQueue(QUEUE)) === null) throw err;
    });
  }
  return {
    async submit(job, host) {
      await boss.send(QUEUE, job, { group: hostGroup(host) });
    },
    async submitMany(jobs, within) {
      if (jobs.length === 0) return;
      await boss.insert(QUEUE, jobs.map((j) => ({ data: j.job, group: hostGroup(j.host) })), within ? { db: within } : {});
    },
    async work(handler, opts) {
      await boss.work<OperationJob>(QUEUE, { batchSize: 1, localConcurrency: opts.concurrency, pollingIntervalSeconds: POLL_SECONDS, groupConcurrency: GROUP_CONCURRENCY }, async ([job]) => {
        if (job !== undefined) await handler(job.data);
      });
    },
    async stopWork() {
      await boss.offWork(QUEUE, { wait: true });
    },
    async close() {
      await boss.stop({ graceful: true, close: true, timeout: 30_000 });
    },
  };
}
