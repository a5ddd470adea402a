/**
 * Customers' SSH public keys, for the Xen Shell (src/shell/): one table, its migration and its
 * typed queries, kept in their own module so that the shell's schema change never touches the
 * fleet's. A key is stored as its public SSH blob (what a client offers during publickey auth),
 * never as a private key.
 */
import { createHash } from 'node:crypto';
import type { Generated, Kysely, Selectable } from 'kysely';
import type { Migration } from 'kysely/migration';
import { ssh2 } from '../util/ssh2.ts';
import { idColumn } from './portable.ts';
import type { Store } from './store.ts';

export type CustomerKeysTable = {
  id: Generated<number>;
  /** The customer (guests.owner) the key logs in as. */
  owner: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ... */
  algo: string;
  /** The public key blob, base64, as in an authorized_keys line. */
  key: string;
  /** OpenSSH's `SHA256:...` fingerprint, for the audit log and `ssh-keygen -lf`. */
  fingerprint: string;
  comment: string | null;
  created_at: string;
};

export type CustomerKey = Selectable<CustomerKeysTable>;
export type KeyTables = { customer_keys: CustomerKeysTable };

/** The migration: numbered well after the fleet's so the two never collide. */
export const customerKeysMigration: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('customer_keys')
      .addColumn('id', 'integer', idColumn(db))
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('algo', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('comment', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('customer_keys_owner_fp', ['owner', 'fingerprint'])
      .execute();
    await db.schema.createIndex('customer_keys_owner').on('customer_keys').column('owner').execute();
  },
  async down(db: Kysely<any>) {
    await db.schema.dropTable('customer_keys').execute();
  },
};

/** The key types the shell accepts (DSA is broken and OpenSSH no longer offers it). */
const ALGOS = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
/** A customer name: the SSH user name they log in with, and guests.owner. */
export const CUSTOMER = /^[a-z_][a-z0-9_.-]{0,63}$/;
/** authorized_keys lines are under 1 KB for ed25519/ecdsa and under 2 KB for RSA-8192. */
const MAX_KEY_LINE = 16 * 1024;

/**
 * OpenSSH's fingerprint of a public key blob.
 * @example
 * fingerprint(blob) // => 'SHA256:Vw2DXmF1...'
 */
export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export type ParsedPublicKey = { algo: string; key: string; fingerprint: string; comment: string | null };

/**
 * Parses one authorized_keys-style line (`ALGO BASE64 [COMMENT]`, no options) into what the
 * store keeps; refuses private keys, unknown types and anything that does not parse.
 * @example
 * parsePublicKey('ssh-ed25519 AAAAC3Nza... alice@laptop') // => { ok: true, key: { algo: 'ssh-ed25519', ... } }
 * parsePublicKey('-----BEGIN OPENSSH PRIVATE KEY-----...') // => { ok: false, error: 'a private key; give the .pub file' }
 */
export function parsePublicKey(line: string): { ok: true; key: ParsedPublicKey } | { ok: false; error: string } {
  if (line.length > MAX_KEY_LINE) return { ok: false, error: `key too long (${line.length} bytes)` };
  const text = line.trim();
  if (/PRIVATE KEY/.test(text)) return { ok: false, error: 'a private key; give the .pub file' };
  const parts = text.split(/\s+/);
  const [algo, b64, ...rest] = parts;
  if (algo === undefined || b64 === undefined || !ALGOS.has(algo)) return { ok: false, error: `not a public key line (expected one of ${[...ALGOS].join(', ')} then base64)` };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return { ok: false, error: 'the key is not base64' };
  const parsed = ssh2().utils.parseKey(`${algo} ${b64}`);
  if (parsed instanceof Error) return { ok: false, error: `the key does not parse: ${parsed.message}` };
  const k = Array.isArray(parsed) ? parsed[0] : parsed;
  if (k === undefined || k.isPrivateKey() || k.type !== algo) return { ok: false, error: 'the key does not parse as a public key' };
  const blob = k.getPublicSSH();
  const comment = rest.join(' ').slice(0, 200) || null;
  return { ok: true, key: { algo, key: blob.toString('base64'), fingerprint: fingerprint(blob), comment } };
}

/**
 * The customer-key queries over an open store.
 * @example
 * const keys = customerKeys(store);
 * await keys.add('alice', parsed) // => { id: 1, owner: 'alice', ... }
 */
export function customerKeys(store: Store) {
  const db = store.db.withTables<KeyTables>();
  return {
    add: async (owner: string, k: ParsedPublicKey): Promise<CustomerKey> => {
      if (!CUSTOMER.test(owner)) throw new Error(`invalid customer name ${JSON.stringify(owner.slice(0, 80))}`);
      return db
        .insertInto('customer_keys')
        .values({ owner, algo: k.algo, key: k.key, fingerprint: k.fingerprint, comment: k.comment, created_at: new Date().toISOString() })
        .onConflict((oc) => oc.columns(['owner', 'fingerprint']).doUpdateSet({ comment: k.comment }))
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    list: async (owner?: string): Promise<CustomerKey[]> => {
      let q = db.selectFrom('customer_keys').selectAll();
      if (owner !== undefined) q = q.where('owner', '=', owner);
      return q.orderBy('owner').orderBy('id').execute();
    },
    /** The customer's key with this public blob (which names its own type), if they registered it. */
    find: async (owner: string, blob: Uint8Array): Promise<CustomerKey | undefined> =>
      db.selectFrom('customer_keys').selectAll().where('owner', '=', owner).where('fingerprint', '=', fingerprint(blob)).executeTakeFirst(),
    remove: async (owner: string, fp: string): Promise<number> => {
      const r = await db.deleteFrom('customer_keys').where('owner', '=', owner).where('fingerprint', '=', fp).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}
