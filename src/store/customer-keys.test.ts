import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './store.ts';
import { customerKeys, parsePublicKey } from './customer-keys.ts';
import { STORES } from '../../test/support/stores.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-keys-'));
let n = 0;
function keygen(type: string, bits?: number): { pub: string; priv: string; fp: string } {
  const file = join(dir, `k${n++}-${type}`);
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', 'me@laptop', '-f', file]);
  assert.equal(r.status, 0, r.stderr.toString());
  const fp = spawnSync('ssh-keygen', ['-lf', `${file}.pub`]).stdout.toString().split(' ')[1]!;
  return { pub: readFileSync(`${file}.pub`, 'utf8'), priv: readFileSync(file, 'utf8'), fp };
}

test('public keys from ssh-keygen parse, with the fingerprint ssh-keygen -l prints', () => {
  for (const [type, bits] of [['ed25519'], ['ecdsa', 256], ['ecdsa', 521], ['rsa', 2048]] as const) {
    const k = keygen(type, bits);
    const p = parsePublicKey(k.pub);
    assert.ok(p.ok, p.ok ? '' : p.error);
    assert.equal(p.key.fingerprint, k.fp, type);
    assert.equal(p.key.comment, 'me@laptop');
  }
});

test('private keys, garbage and oversized input are refused with a reason', () => {
  const k = keygen('ed25519');
  assert.deepEqual(parsePublicKey(k.priv), { ok: false, error: 'a private key; give the .pub file' });
  assert.match((parsePublicKey('ssh-dss AAAAB3NzaC1kc3M=') as { error: string }).error, /not a public key line/);
  assert.match((parsePublicKey('ssh-ed25519 !!!') as { error: string }).error, /not base64/);
  assert.match((parsePublicKey('ssh-ed25519 AAAA') as { error: string }).error, /does not parse/);
  const [algo, b64] = k.pub.split(' ');
  assert.match((parsePublicKey(`ssh-rsa ${b64}`) as { error: string }).error, /does not parse/, 'type must match the blob');
  assert.equal(parsePublicKey(`${algo} ${b64}`).ok, true);
  assert.match((parsePublicKey(`from="x" ${k.pub}`) as { error: string }).error, /not a public key line/);
  assert.match((parsePublicKey('x'.repeat(20000)) as { error: string }).error, /too long/);
  assert.equal(parsePublicKey('').ok, false);
});

for (const store of STORES) test(`keys are stored per customer and found by the blob a client offers (${store.kind})`, async () => {
  const s = await openStore(await store.location());
  const keys = customerKeys(s);
  const a = parsePublicKey(keygen('ed25519').pub);
  const b = parsePublicKey(keygen('ecdsa', 384).pub);
  assert.ok(a.ok && b.ok);
  await keys.add('alice', a.key);
  await keys.add('alice', a.key); // idempotent
  await keys.add('bob', b.key);
  assert.equal((await keys.list('alice')).length, 1);
  const blobA = Buffer.from(a.key.key, 'base64');
  assert.equal((await keys.find('alice', blobA))?.fingerprint, a.key.fingerprint);
  assert.equal(await keys.find('bob', blobA), undefined, "alice's key is not bob's");
  await assert.rejects(keys.add('Alice; drop', a.key), /invalid customer name/);
  assert.equal(await keys.remove('alice', a.key.fingerprint), 1);
  assert.equal(await keys.find('alice', blobA), undefined);
  await s.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
