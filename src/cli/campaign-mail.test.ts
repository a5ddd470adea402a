/**
 * The campaign engine and its mail, end to end through the command line: `pvhctl campaign run
 * --once` on a simulated fleet with the smtp settings pointing at a real SMTP relay on loopback
 * (smtp-server, test/support/smtp-relay.ts). The canary's owner gets the notice before its switch
 * and the result after it, from the same Notifier `serve` and `worker` use; another owner, with
 * no address on record, gets nothing and the campaign goes on. Wrong mail settings stop the tick
 * in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relay } from '../../test/support/smtp-relay.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

/** pvhctl, asynchronously: the relay answers in this process while the command waits for it. */
function pvhctl(dir: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--data-dir', dir], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 }, (err, out, errOut) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out, err: errOut });
    });
  });
}

test('a campaign tick mails the canary owner its notice before the switch and its result after, through a real SMTP relay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-campaign-mail-'));
  const smtp = await relay();
  const mailEnv = {
    PVHCTL_SMTP_HOST: '127.0.0.1',
    PVHCTL_SMTP_PORT: String(smtp.port),
    PVHCTL_SMTP_SECURITY: 'none',
    PVHCTL_SMTP_FROM: 'pvhctl@example.test',
    PVHCTL_SMTP_LINK_URL: 'https://pvh.example.test',
  };
  const ok = async (...args: string[]) => {
    const r = await pvhctl(dir, mailEnv, ...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  try {
    await ok('host', 'add', 'sim1', '--sim', '6:3', '--max-parallel', '2');
    await ok('scan');
    const h = new Date().getUTCHours();
    const hh = (n: number) => `${String((n + 24) % 24).padStart(2, '0')}:00`;
    await ok('campaign', 'create', 'spring', '--window', `sim1=daily ${hh(h - 1)}-${hh(h + 2)} UTC`, '--canary', '1', '--notice-days', '0', '--switch-minutes', '1');
    const started = JSON.parse(await ok('campaign', 'start', 'spring', '--json')) as { guests: { guest_name: string; owner: string | null; wave: number | null }[] };
    const canary = started.guests.find((g) => g.wave === 0)!;
    assert.ok(canary.owner, JSON.stringify(canary));
    await ok('owner', 'set-email', canary.owner, `${canary.owner}@customers.example.test`);

    // Wrong settings: one line, nothing ticked.
    const wrong = await pvhctl(dir, { ...mailEnv, PVHCTL_SMTP_FROM: 'not an address' }, 'campaign', 'run', '--once');
    assert.notEqual(wrong.code, 0);
    assert.equal(wrong.err.trim().split('\n').length, 1, wrong.err);
    assert.equal(smtp.received.length, 0);

    // First tick: the notice (no notice period), then the canary's switch.
    assert.equal(await ok('campaign', 'run', '--once'), `spring: started ${canary.guest_name}\n`);
    assert.equal(smtp.received.length, 1, 'the notice');
    const notice = smtp.received[0]!;
    assert.deepEqual(smtp.rcpts, [`${canary.owner}@customers.example.test`]);
    assert.match(notice.subject ?? '', new RegExp(canary.guest_name));
    assert.match(notice.text ?? '', /PVH/);
    assert.match(notice.text ?? '', /https:\/\/pvh\.example\.test\/g\/\d+\?/, 'a signed link to the guest page');

    // Second tick: the switch's outcome recorded and the result mailed, once.
    const second = JSON.parse((await ok('campaign', 'run', '--once', '--json')).trim().split('\n')[0]!) as { recorded: { guest: string; status: string }[] };
    assert.deepEqual(second.recorded, [{ guest: canary.guest_name, status: 'switched' }]);
    assert.equal(smtp.received.length, 2, 'the result');
    const result = smtp.received[1]!;
    assert.match(result.subject ?? '', new RegExp(canary.guest_name));
    assert.notEqual(result.messageId, notice.messageId);
    await ok('campaign', 'run', '--once');
    assert.equal(smtp.received.filter((m) => m.messageId === result.messageId).length, 1, 'a tick run again sends nothing twice');
  } finally {
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
