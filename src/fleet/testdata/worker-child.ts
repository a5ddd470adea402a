/**
 * Test helper process for workers.test.ts: a `pvhctl worker` on the PostgreSQL store, except that
 * right after the KILL_AT-th journal entry this process writes is committed, it prints `AT n` and
 * waits to be killed with SIGKILL (0: never); with AT_N = `stop`, it prints `AT n op ID lease
 * UNTIL` (the operation and its lease as stored just before) and stops itself there instead
 * (SIGSTOP, as a machine gone away looks from the database), and goes on where it was when it gets
 * SIGCONT. The test learns which operation froze from this line, not from the operation's owner:
 * on a loaded machine the lease may already have run out and another worker own it when the test
 * looks. It prints READY once it takes work.
 * argv: DATA_DIR STORE_URL KILL_AT LEASE_MS CONCURRENCY [AT_N]
 */
import { openFleet } from '../fleet.ts';
import { leaseKeeper } from '../lease.ts';
import { pgBossQueue } from '../queue.ts';
import { startWorker } from '../worker.ts';

const [dataDir, store, at, lease, concurrency, atN = 'hang'] = process.argv.slice(2);
const killAt = Number(at);
const leaseMs = Number(lease);
let written = 0;
const fleet = await openFleet({
  dataDir: dataDir!,
  store: store!,
  queue: await pgBossQueue(store!),
  recover: false,
  verify: { bootTimeoutMs: 3000, pollMs: 5 },
  shutdownTimeoutMs: 3000,
  afterJournal: async (operationId) => {
    if (++written === killAt) {
      if (atN === 'stop') {
        const op = await fleet.store.getOperation(operationId);
        process.stdout.write(`AT ${written} op ${operationId} lease ${op?.lease_until ?? 'none'}\n`);
        return void process.kill(process.pid, 'SIGSTOP');
      }
      process.stdout.write(`AT ${written}\n`);
      setInterval(() => {}, 1000);
      await new Promise(() => {});
    }
  },
});
fleet.ctx.leases.stop();
fleet.ctx.leases = leaseKeeper(fleet.store, leaseMs);
const worker = await startWorker(fleet.ctx, fleet.ctx.queue!, { concurrency: Number(concurrency), sweepMs: leaseMs / 3, log: (l) => process.stderr.write(`${l}\n`) });
process.stdout.write('READY\n');
process.once('SIGTERM', () => {
  void worker.stop().then(() => fleet.close()).then(() => process.exit(0));
});
