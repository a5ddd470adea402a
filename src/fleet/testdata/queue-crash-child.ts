/**
 * Test helper process for queue.test.ts: asks for one operation on a guest on the PostgreSQL store
 * with the pg-boss queue, and kills itself with SIGKILL at point WHERE: `before` (as the queue is
 * asked to take the job, before it writes it), `after` (right after the queue wrote the job, before
 * anything else), `returned` (once the request has returned). What is left in the store then is
 * what a crash of an API process at that point leaves.
 * argv: STORE_URL GUEST ACTION(switch|reboot) WHERE(before|after|returned)
 */
import { openFleet } from '../fleet.ts';
import { startPower } from '../power.ts';
import { pgBossQueue, type OperationQueue } from '../queue.ts';
import { startSwitch } from '../switch.ts';

const [store, guestName, action, where] = process.argv.slice(2);
const die = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('not reached');
};
const real = await pgBossQueue(store!);
const queue: OperationQueue = {
  ...real,
  async submit(job, host) {
    if (where === 'before') die();
    await real.submit(job, host);
    if (where === 'after') die();
  },
  async submitMany(jobs, within) {
    if (where === 'before') die();
    await real.submitMany(jobs, within);
    if (where === 'after') die();
  },
};
const fleet = await openFleet({ dataDir: ':memory:', store: store!, queue, recover: false });
const [guest] = await fleet.store.getGuest(guestName!);
const r = action === 'switch' ? await startSwitch(fleet.ctx, guest!, 'pvh', { force: false, actor: 'crash-test' }) : await startPower(fleet.ctx, guest!, 'reboot', { actor: 'crash-test' });
process.stdout.write(`${r.kind} ${r.operation?.id ?? ''}\n`);
if (where === 'returned') die();
await fleet.close();
