/**
 * Test helper process for crash.test.ts: switches one guest and, right after journal entry number
 * CRASH_AT is committed, prints `AT n` and waits to be killed with SIGKILL.
 * argv: DATA_DIR GUEST TARGET CRASH_AT [STORE_URL]
 */
import { openFleet } from '../fleet.ts';
import { startSwitch } from '../switch.ts';
import type { SwitchTarget } from '../types.ts';

const [dataDir, guestName, to, at, store] = process.argv.slice(2);
const crashAt = Number(at);
const fleet = await openFleet({
  dataDir: dataDir!,
  ...(store ? { store } : {}),
  verify: { bootTimeoutMs: 400, pollMs: 2 },
  shutdownTimeoutMs: 300,
  afterJournal: async (_op, seq) => {
    if (seq === crashAt) {
      process.stdout.write(`AT ${seq}\n`);
      // Stay alive (a pending promise alone would let the event loop end) until the SIGKILL.
      setInterval(() => {}, 1000);
      await new Promise(() => {});
    }
  },
});
const [guest] = await fleet.store.getGuest(guestName!);
const r = await startSwitch(fleet.ctx, guest!, to as SwitchTarget, { force: false, actor: 'crash-test' });
const op = r.kind === 'started' ? await r.finished : null;
process.stdout.write(`END ${op?.status ?? r.kind}\n`);
await fleet.close();
