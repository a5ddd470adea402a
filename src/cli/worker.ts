/**
 * `pvhctl worker --store URL`: runs the fleet's operations from the job queue on PostgreSQL; start
 * one on each machine that should do switches. SIGTERM (or Ctrl-C) stops taking work and lets the
 * operations in flight finish; a second SIGTERM exits at once and leaves them to another worker.
 */
import { loadSettings } from '../settings/load.ts';
import { textOf } from '../settings/resolve.ts';
import { leaseKeeper } from '../fleet/lease.ts';
import { startWorker } from '../fleet/worker.ts';
import { startCampaignTicker } from '../fleet/campaign.ts';
import { realClock } from '../fleet/campaign-rules.ts';
import { notifierFor } from './campaign.ts';
import { OWNER } from '../store/store.ts';
import { parse, UsageError } from './args.ts';
import { open, storeUrl } from './fleet-common.ts';

export const help = `usage: pvhctl worker --store URL [--concurrency N] [--lease SECONDS] [--data-dir DIR]

Takes switches and rollbacks from the job queue in the PostgreSQL store (pg-boss) and runs them,
at most N at once in this process (default 16) and at most each host's max_parallel across all
workers. An operation is held by a lease (default 30 s) that the worker renews while it runs; when
a worker dies, another resumes or rolls back its operations from their journal once the lease
has run out (within SECONDS + SECONDS/3).

SIGTERM or Ctrl-C: stop taking work, finish what is in flight, exit 0. A second one: exit at once;
the operations in flight are taken over by another worker when their leases run out.
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    'data-dir': { type: 'string' },
    concurrency: { type: 'string' },
    lease: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const url = storeUrl(textOf(loadSettings({}), 'store.url'));
  if (url === undefined) throw new UsageError('a worker needs the PostgreSQL store: give --store URL, set PVHCTL_STORE, or store.url in pvhctl.conf');
  const concurrency = values.concurrency === undefined ? 16 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) throw new UsageError(`--concurrency: expected 1..1000, got ${values.concurrency}`);
  const leaseS = values.lease === undefined ? 30 : Number(values.lease);
  if (!Number.isFinite(leaseS) || leaseS < 1 || leaseS > 3600) throw new UsageError(`--lease: expected 1..3600 seconds, got ${values.lease}`);
  const fleet = await open(values['data-dir']);
  let mail: ReturnType<typeof notifierFor>;
  try {
    mail = notifierFor(fleet.store, loadSettings({}));
  } catch (err) {
    await fleet.close();
    throw err;
  }
  fleet.ctx.leases.stop();
  fleet.ctx.leases = leaseKeeper(fleet.store, leaseS * 1000);
  const log = (line: string) => process.stderr.write(`pvhctl worker ${OWNER}: ${line}\n`);
  const worker = await startWorker(fleet.ctx, fleet.ctx.queue!, { concurrency, sweepMs: (leaseS * 1000) / 3, log });
  // Campaigns' ticks too: any number of workers, one tick per campaign at a time (its lease in the store).
  const ticker = startCampaignTicker(fleet.ctx, { clock: realClock, notifier: mail.notifier, everyMs: 30_000, log });
  log(`ready (store ${fleet.store.path}, concurrency ${concurrency}, lease ${leaseS} s; campaign mail ${mail.mail})`);
  await new Promise<void>((resolve) => {
    const first = () => {
      log('stopping: no new work; finishing what is in flight');
      process.once('SIGTERM', () => process.exit(143));
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.once('SIGTERM', first);
    process.once('SIGINT', first);
  });
  await ticker.stop();
  await worker.stop();
  await fleet.close();
  log('stopped');
  return 0;
}
