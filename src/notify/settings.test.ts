import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings } from '../settings/resolve.ts';
import { mailSetup } from './settings.ts';

const settings = (env: Record<string, string>) => {
  const r = resolveSettings({ file: null, env });
  assert.ok(r.ok);
  return r.settings;
};
const ON = { PVHCTL_SMTP_HOST: 'smtp.example.com', PVHCTL_SMTP_FROM: 'pvhctl@example.com', PVHCTL_SMTP_LINK_URL: 'https://pvh.example.com' };

test('mail is off without a relay, on with one, and says what is missing', () => {
  assert.deepEqual(mailSetup(settings({})), { kind: 'off' });
  const on = mailSetup(settings(ON));
  assert.ok(on.kind === 'on');
  assert.deepEqual({ ...on.config }, {
    host: 'smtp.example.com', port: 587, security: 'starttls', from: 'pvhctl@example.com', auth: null, ca: null, linkBase: 'https://pvh.example.com',
    linkLifetimeMs: 30 * 86_400_000, tries: 4, backoffMs: 30_000,
  });
  assert.deepEqual(mailSetup(settings({ PVHCTL_SMTP_HOST: 'smtp.example.com' })), { kind: 'invalid', error: 'smtp.host is set: smtp.from and smtp.link_url are needed too' });
  assert.deepEqual(mailSetup(settings({ ...ON, PVHCTL_SMTP_USERNAME: 'pvhctl' })), { kind: 'invalid', error: 'smtp.username is set: smtp.password_file is needed too' });
  const withPassword = { ...ON, PVHCTL_SMTP_USERNAME: 'pvhctl', PVHCTL_SMTP_PASSWORD_FILE: '/etc/pvhctl/smtp-password' };
  const auth = mailSetup(settings(withPassword), () => 's3cret\n');
  assert.ok(auth.kind === 'on' && auth.config.auth?.pass === 's3cret');
  assert.deepEqual(mailSetup(settings(withPassword), () => 'a\nb\n'), { kind: 'invalid', error: 'smtp.password_file /etc/pvhctl/smtp-password: expected one line of at most 1024 characters' });
  const missing = mailSetup(settings(withPassword), () => {
    throw Object.assign(new Error('no'), { code: 'ENOENT' });
  });
  assert.deepEqual(missing, { kind: 'invalid', error: 'smtp.password_file /etc/pvhctl/smtp-password: ENOENT' });
  // smtp.ca_file: PEM certificates that replace the system's CAs for the relay; anything else is one line.
  const withCa = { ...ON, PVHCTL_SMTP_CA_FILE: '/etc/pvhctl/smtp-ca.pem' };
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const ca = mailSetup(settings(withCa), (p) => (p === '/etc/pvhctl/smtp-ca.pem' ? pem : ''));
  assert.ok(ca.kind === 'on' && ca.config.ca === pem);
  assert.deepEqual(mailSetup(settings(withCa), () => 'not a certificate'), { kind: 'invalid', error: 'smtp.ca_file /etc/pvhctl/smtp-ca.pem: expected PEM certificates (-----BEGIN CERTIFICATE-----), at most 1024 KiB' });
});

// The files are the operator's, but a wrong path must not hang pvhctl or fill its memory: a FIFO
// blocked the read and /dev/zero read until Node gave up, before the size checks ran.
test('the password and CA files are read from regular files only, and only as far as their limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-smtp-files-'));
  try {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(dir, 'big.pem');
    writeFileSync(big, `-----BEGIN CERTIFICATE-----\n${'A'.repeat(3 << 20)}\n`);
    const password = (file: string) => mailSetup(settings({ ...ON, PVHCTL_SMTP_USERNAME: 'pvhctl', PVHCTL_SMTP_PASSWORD_FILE: file }));
    const ca = (file: string) => mailSetup(settings({ ...ON, PVHCTL_SMTP_CA_FILE: file }));
    assert.deepEqual(password(fifo), { kind: 'invalid', error: `smtp.password_file ${fifo}: not a regular file` });
    assert.deepEqual(password('/dev/zero'), { kind: 'invalid', error: 'smtp.password_file /dev/zero: not a regular file' });
    assert.deepEqual(ca(fifo), { kind: 'invalid', error: `smtp.ca_file ${fifo}: not a regular file` });
    assert.deepEqual(ca(big), { kind: 'invalid', error: `smtp.ca_file ${big}: expected PEM certificates (-----BEGIN CERTIFICATE-----), at most 1024 KiB` });
    assert.deepEqual(ca(join(dir, 'missing.pem')), { kind: 'invalid', error: `smtp.ca_file ${join(dir, 'missing.pem')}: ENOENT` });
    writeFileSync(join(dir, 'password'), 's3cret\n');
    const ok = password(join(dir, 'password'));
    assert.ok(ok.kind === 'on' && ok.config.auth?.pass === 's3cret');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
