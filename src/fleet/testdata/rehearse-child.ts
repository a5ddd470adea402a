/**
 * Test helper process for rehearse-crash.test.ts: rehearses one guest and, right after journal
 * entry number CRASH_AT is committed, prints `AT n` and waits to be killed with SIGKILL.
 * argv: DATA_DIR GUEST CRASH_AT [STORE_URL]
 */
import { openFleet } from '../fleet.ts';
import { startRehearsal } from '../rehearse.ts';

const [dataDir, guestName, at, store] = process.argv.slice(2);
const crashAt = Number(at);
const fleet = await openFleet({
  dataDir: dataDir!,
  store,
  verify: { bootTimeoutMs: 400, pollMs: 2 },
  shutdownTimeoutMs: 300,
  afterJournal: async (_id, seq) => {
    if (seq === crashAt) {
      process.stdout.write(`AT ${seq}\n`);
      setInterval(() => {}, 1000);
      await new Promise(() => {});
    }
  },
});
const [guest] = await fleet.store.getGuest(guestName!);
const r = await startRehearsal(fleet.ctx, guest!, { actor: 'crash-test' });
const out = r.kind === 'started' ? await r.finished : null;
process.stdout.write(`END ${out?.status ?? r.kind}\n`);
await fleet.close();
