/**
 * `pvhctl serve` with a certificate and key (api.tls_cert / api.tls_key) serves HTTPS only.
 */
import { startServe } from '../../test/support/serve.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


test('serve with api.tls_cert and api.tls_key from the settings file: HTTPS, and no plain HTTP', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  writeFileSync(join(dir, 'pvhctl.conf'), `[store]\ndata_dir = "${join(dir, 'data')}"\n[api]\ntls_cert = "${cert}"\ntls_key = "${key}"\n`);
  const address = await startServe(t, ['--port', '0'], { ...process.env, PVHCTL_CONFIG: join(dir, 'pvhctl.conf') });
  assert.match(address, /^https:/);
  const body = await new Promise<string>((resolve, reject) => {
    get(`${address}/healthz`, { ca: readFileSync(cert) }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve(s));
    }).once('error', reject);
  });
  assert.deepEqual(JSON.parse(body), { ok: true });
  await assert.rejects(fetch(address.replace('https:', 'http:') + '/healthz'));
});
