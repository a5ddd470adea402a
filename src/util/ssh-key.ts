/**
 * An ed25519 key pair in OpenSSH's formats, for the Xen Shell's host key and the demo's customer
 * key. ssh2's generateKeyPairSync('ed25519') strips leading zero bytes from the 32-byte public key
 * (mscdex/ssh2#1513, #1390: its DER reader treats the key as a number), so about one pair in 256
 * carries a 31-byte key that OpenSSH, ssh2's own parser and ours refuse as malformed; a host key
 * like that, once saved, would keep the shell from starting. A pair is made again until both
 * halves parse (two tries or more are needed about once in 128).
 */
import { ssh2 } from './ssh2.ts';

/** More tries than any run will need (each fails with probability 1/256 or so); bounded all the same. */
const TRIES = 16;

/** True when ssh2's parser takes `key` as one well-formed ed25519 key. */
function wellFormed(key: string): boolean {
  const k = ssh2().utils.parseKey(key);
  if (k instanceof Error) return false;
  const one = Array.isArray(k) ? k[0] : k;
  // An ed25519 public key in SSH wire format: string "ssh-ed25519" (4 + 11) and string key (4 + 32).
  return one !== undefined && one.type === 'ssh-ed25519' && one.getPublicSSH().length === 51;
}

/**
 * A new ed25519 key pair whose halves both parse: `private` in OpenSSH's PEM format, `public` as an
 * authorized_keys line with `comment`.
 * @example
 * ed25519KeyPair('alice@pvhctl-demo').public // => 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... alice@pvhctl-demo'
 */
export function ed25519KeyPair(comment: string): { private: string; public: string } {
  for (let i = 0; i < TRIES; i++) {
    const pair = ssh2().utils.generateKeyPairSync('ed25519', { comment });
    if (wellFormed(pair.private) && wellFormed(pair.public)) return pair;
  }
  throw new Error(`could not make a well-formed ed25519 key pair in ${TRIES} tries`);
}
