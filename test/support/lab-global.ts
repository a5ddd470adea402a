/**
 * node --test's global setup for the lab stage (scripts/test.sh): boots the lab once for all lab
 * suites, hands its endpoint to them (test/support/lab.ts), and at the end collects its logs and
 * stops it, saying where the logs and the run's retries.log are.
 */
import { join } from 'node:path';
import { collectLogs, startLab, stopLab, waitForToolstack, type LabEndpoint } from '../../lab/lab.ts';
import { readRetries, retriesLog } from '../../lab/retries.ts';
import { i386Default } from '../../lab/debian-first-boot.ts';
import { DEBIAN_I386_ENV, labDebianGuests } from '../../lab/guests.ts';
import { resetLab, SHARED_LAB_ENV } from './lab.ts';

let lab: LabEndpoint | undefined;

/** Boots the shared lab and waits for its toolstack; suites started after this attach to it. */
export async function globalSetup(): Promise<void> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const t0 = Date.now();
  // deb12-i386 by default only where its first boot has already run (lab/debian-first-boot.ts);
  // the suites, started after this, see the choice in their environment.
  if ((process.env[DEBIAN_I386_ENV] ?? '') === '' && labDebianGuests().length > 0 && (await i386Default(log))) process.env[DEBIAN_I386_ENV] = '1';
  lab = await startLab({ log });
  await waitForToolstack(lab);
  await resetLab(lab); // keeps /etc/xen as built
  process.env[SHARED_LAB_ENV] = join(lab.runDir, 'endpoint.json');
  log(`lab: shared by every lab suite of this run, up in ${Date.now() - t0} ms`);
}

/** Collects the shared lab's logs into RUNDIR/logs and stops it. */
export async function globalTeardown(): Promise<void> {
  if (lab === undefined) return;
  const dir = join(lab.runDir, 'logs');
  await collectLogs(lab, dir).catch(() => []);
  await stopLab(lab);
  const retries = readRetries(lab);
  process.stderr.write(`lab logs: ${dir}\nlab retries: ${retries.length}${retries.length > 0 ? ` (${retriesLog(lab)})\n  ${retries.join('\n  ')}` : ''}\n`);
}
