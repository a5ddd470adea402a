/**
 * The SMTP notifier against a real SMTP server on loopback that offers STARTTLS with real
 * certificates (made by openssl for the test): a certificate it must not trust (self-signed; from
 * a CA it was not given; for another name) is refused with one clear line and no mail goes out,
 * not even after more tries; a relay whose certificate chains to the CA in smtp.ca_file gets the
 * mail, over TLS.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFleet } from '../fleet/fleet.ts';
import type { Notice } from '../fleet/notice.ts';
import { resolveSettings } from '../settings/resolve.ts';
import { relay } from '../../test/support/smtp-relay.ts';
import { parseAddress, type MailAddress } from './address.ts';
import { mailStore } from './mail-store.ts';
import { mailSetup } from './settings.ts';
import { smtpNotifier, type SmtpConfig } from './smtp.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-starttls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
const file = (name: string) => join(dir, name);
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A CA, and certificates for the relay: signed by it for 127.0.0.1, signed by it for another name, and self-signed for 127.0.0.1. */
function certificates() {
  openssl('req', '-x509', ...ecKey, '-days', '2', '-subj', '/CN=pvhctl test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', file('ca.key'), '-out', file('ca.pem'));
  const signed = (name: string, san: string) => {
    openssl('req', ...ecKey, '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`));
    writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\n`);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`));
    return { key: readFileSync(file(`${name}.key`), 'utf8'), cert: readFileSync(file(`${name}.pem`), 'utf8') };
  };
  openssl('req', '-x509', ...ecKey, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', file('self.key'), '-out', file('self.pem'));
  return {
    ca: readFileSync(file('ca.pem'), 'utf8'),
    good: signed('loopback', 'IP:127.0.0.1'),
    otherName: signed('relay.example', 'DNS:relay.example'),
    selfSigned: { key: readFileSync(file('self.key'), 'utf8'), cert: readFileSync(file('self.pem'), 'utf8') },
  };
}

const certs = certificates();
const from = (parseAddress('pvhctl@example.com') as { address: MailAddress }).address;
const notice: Notice = {
  kind: 'notice', campaignId: 1, campaignName: 'c', guestId: 1, guestName: 'web1', owner: 'alice', host: 'xen1',
  slot: { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' }, path: { path: 'pvh-now' }, distro: null,
};

/** Sends `notice` to a STARTTLS relay with `cert`, the notifier trusting `ca` (null: the system's CAs). */
async function sendThrough(cert: { key: string; cert: string }, ca: string | null) {
  const smtp = await relay({ starttls: cert });
  const fleet = await openFleet({ dataDir: ':memory:', simInMemory: true });
  try {
    await mailStore(fleet.store).setContact('alice', (parseAddress('alice@example.com') as { address: MailAddress }).address);
    const cfg: SmtpConfig = { host: '127.0.0.1', port: smtp.port, security: 'starttls', from, auth: null, ca, linkBase: 'https://pvh.example.com', linkLifetimeMs: 3_600_000, tries: 3, backoffMs: 10 };
    const r = await smtpNotifier(fleet.store, cfg).send(notice);
    const rows = await mailStore(fleet.store).mails({ limit: 10 });
    return { r, rows, rcpts: [...smtp.rcpts], received: smtp.received.length, secured: [...smtp.secured] };
  } finally {
    await smtp.close();
    await fleet.close();
  }
}

test('a self-signed certificate is refused: one clear line, no mail, no further tries', async () => {
  const s = await sendThrough(certs.selfSigned, null);
  assert.deepEqual(s.r, { status: 'failed', error: "the relay's TLS certificate was refused: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); nothing was sent. Give the relay's CA in smtp.ca_file if it has a private one." });
  assert.deepEqual([s.rcpts, s.received], [[], 0]);
  assert.deepEqual(s.rows.map((m) => [m.status, m.tries, m.error]), [['failed', 1, (s.r as { error: string }).error]]);
});

test('a certificate from a CA the notifier was not given is refused (the system CAs do not know it)', async () => {
  const s = await sendThrough(certs.good, null);
  assert.equal(s.r.status, 'failed');
  assert.match((s.r as { error: string }).error, /^the relay's TLS certificate was refused: .* \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\); nothing was sent\./);
  assert.deepEqual([s.rcpts, s.received], [[], 0]);
});

test('a certificate from the trusted CA but for another name is refused, naming the mismatch', async () => {
  const s = await sendThrough(certs.otherName, certs.ca);
  assert.equal(s.r.status, 'failed');
  assert.match((s.r as { error: string }).error, /^the relay's TLS certificate was refused: .*altnames.* \(ERR_TLS_CERT_ALTNAME_INVALID\); nothing was sent\. smtp\.host must be a name the certificate is for\.$/);
  assert.deepEqual([s.rcpts, s.received], [[], 0]);
});

test('with the CA in smtp.ca_file, the mail goes out over TLS', async () => {
  // The CA reaches the notifier the way an operator gives it: smtp.ca_file in the settings.
  const env = { PVHCTL_SMTP_HOST: '127.0.0.1', PVHCTL_SMTP_FROM: 'pvhctl@example.com', PVHCTL_SMTP_LINK_URL: 'https://pvh.example.com', PVHCTL_SMTP_CA_FILE: file('ca.pem') };
  const resolved = resolveSettings({ file: null, env });
  assert.ok(resolved.ok);
  const setup = mailSetup(resolved.settings);
  assert.ok(setup.kind === 'on' && setup.config.security === 'starttls');
  const s = await sendThrough(certs.good, setup.config.ca);
  assert.equal(s.r.status, 'sent', JSON.stringify(s.r));
  assert.deepEqual([s.rcpts, s.received, s.secured], [['alice@example.com'], 1, [true]]);
});
