import { test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import { parsePublicKey } from '../store/customer-keys.ts';
import { ed25519KeyPair } from './ssh-key.ts';

// ssh2's generator gives a malformed key about once in 256 pairs (mscdex/ssh2#1513): in 2,000
// pairs made with it directly, at least one is malformed with probability 1 - (255/256)^2000 > 0.9996.
test('every ed25519 pair parses, public and private, by ssh2 and by our authorized_keys reader', () => {
  for (let i = 0; i < 2000; i++) {
    const pair = ed25519KeyPair(`k${i}@test`);
    const pub = parsePublicKey(pair.public);
    assert.ok(pub.ok, `pair ${i}: ${pub.ok ? '' : pub.error}: ${pair.public}`);
    assert.ok(pair.public.endsWith(` k${i}@test`));
    const priv = ssh2.utils.parseKey(pair.private);
    assert.ok(!(priv instanceof Error), `pair ${i}: private key: ${priv instanceof Error ? priv.message : ''}`);
    const k = Array.isArray(priv) ? priv[0]! : priv;
    assert.equal(`${k.type} ${k.getPublicSSH().toString('base64')}`, pair.public.split(' ').slice(0, 2).join(' '));
  }
});
