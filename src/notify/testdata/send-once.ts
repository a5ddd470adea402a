/**
 * A child process for the crash test (src/notify/smtp.test.ts): opens the store at argv[2] (a data
 * directory, or a postgresql:// URL) and sends one notice through the relay on 127.0.0.1:argv[3]. The test kills it
 * with SIGKILL while the relay holds its DATA, before the mail is recorded as sent.
 */
import { openStore } from '../../store/store.ts';
import { smtpNotifier } from '../smtp.ts';
import type { MailAddress } from '../address.ts';
import { CRASH_NOTICE } from './crash-notice.ts';

const store = await openStore(process.argv[2]!);
const notifier = smtpNotifier(store, {
  host: '127.0.0.1', port: Number(process.argv[3]), security: 'none', from: 'pvhctl@example.com' as MailAddress,
  auth: null, ca: null, linkBase: 'https://pvh.example.com', linkLifetimeMs: 3_600_000, tries: 1, backoffMs: 10,
});
process.stdout.write(`${JSON.stringify(await notifier.send(CRASH_NOTICE))}\n`);
await store.close();
