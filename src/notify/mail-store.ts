/**
 * The notifier's typed queries (its tables: src/notify/mail-schema.ts), kept in their own module
 * as src/store/customer-keys.ts is, so that mail never touches the fleet's schema.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { isUniqueViolation, type Store } from '../store/store.ts';
import type { MailAddress } from './address.ts';
import type { MailRow, MailTables, OwnerContact } from './mail-schema.ts';
import type { NoticeKind } from '../fleet/notice.ts';

/** The identity of a Notice in the mails table. */
export type MailKey = { campaignId: number; guestId: number; kind: NoticeKind; slotStart: string };

/** What claiming a mail before sending it found. */
export type Claim =
  /** This process sends it (a new row, a failed one tried again, or a `sending` one left by a crash). */
  | { kind: 'claimed'; row: MailRow }
  | { kind: 'sent'; row: MailRow }
  /** Another process claimed it less than `staleMs` ago and may be sending it now. */
  | { kind: 'busy'; row: MailRow };

/**
 * The notifier's queries over an open store.
 * @example
 * const m = mailStore(store);
 * await m.setContact('alice', parsed.address);
 * await m.contact('alice') // => { owner: 'alice', email: 'alice@example.com', updated_at: '…' }
 */
export function mailStore(store: Store) {
  const db = store.db.withTables<MailTables>();
  const now = () => new Date().toISOString();
  const find = (k: MailKey) =>
    db.selectFrom('mails').selectAll()
      .where('campaign_id', '=', k.campaignId).where('guest_id', '=', k.guestId).where('kind', '=', k.kind).where('slot_start', '=', k.slotStart)
      .executeTakeFirst();
  return {
    setContact: async (owner: string, email: MailAddress): Promise<void> => {
      const at = now();
      await db.insertInto('owner_contacts').values({ owner, email, updated_at: at })
        .onConflict((oc) => oc.column('owner').doUpdateSet({ email, updated_at: at })).execute();
    },
    contact: (owner: string): Promise<OwnerContact | undefined> => db.selectFrom('owner_contacts').selectAll().where('owner', '=', owner).executeTakeFirst(),
    /** Every owner with guests or an address: their address (or null) and how many guests they have. */
    owners: async (limit: number): Promise<{ owner: string; email: string | null; guests: number }[]> => {
      const rows = await sql<{ owner: string; email: string | null; guests: number | string }>`
        SELECT o.owner, c.email, (SELECT count(*) FROM guests g WHERE g.owner = o.owner) AS guests
        FROM (SELECT owner FROM guests WHERE owner IS NOT NULL UNION SELECT owner FROM owner_contacts) o
        LEFT JOIN owner_contacts c ON c.owner = o.owner
        ORDER BY o.owner LIMIT ${limit}`.execute(db);
      return rows.rows.map((r) => ({ owner: r.owner, email: r.email, guests: Number(r.guests) }));
    },
    /**
     * Claims a mail before it is sent: inserts it as `sending`, or takes over a `failed` row, or a
     * `sending` row older than `staleMs` (its process died mid-send; the same Message-ID goes out
     * again, so a relay or mail client that saw the first copy can tell).
     */
    claim: async (k: MailKey, fresh: { owner: string; address: string; messageId: string }, staleMs: number): Promise<Claim> => {
      const at = now();
      try {
        const row = await db.insertInto('mails')
          .values({ campaign_id: k.campaignId, guest_id: k.guestId, kind: k.kind, slot_start: k.slotStart, owner: fresh.owner, address: fresh.address, message_id: fresh.messageId, status: 'sending', tries: 0, error: null, created_at: at, updated_at: at })
          .returningAll().executeTakeFirstOrThrow();
        return { kind: 'claimed', row };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      const row = await find(k);
      if (row === undefined) throw new Error('mail row vanished while claiming it');
      if (row.status === 'sent') return { kind: 'sent', row };
      const stale = new Date(Date.now() - staleMs).toISOString();
      // Compare-and-set on (status, updated_at): of two processes taking over the same row, one wins.
      const r = await db.updateTable('mails').set({ status: 'sending', address: fresh.address, updated_at: at })
        .where('id', '=', row.id).where('status', '=', row.status).where('updated_at', '=', row.updated_at)
        .where((eb) => eb.or([eb('status', '=', 'failed'), eb('updated_at', '<', stale)]))
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return { kind: 'claimed', row: { ...row, status: 'sending', address: fresh.address, updated_at: at } };
      return { kind: 'busy', row };
    },
    /** One delivery try has begun. */
    tried: async (id: number, tries: number, error: string | null): Promise<void> => {
      await db.updateTable('mails').set({ tries, error, updated_at: now() }).where('id', '=', id).execute();
    },
    finish: async (id: number, status: 'sent' | 'failed', error: string | null): Promise<void> => {
      await db.updateTable('mails').set({ status, error, updated_at: now() }).where('id', '=', id).execute();
    },
    mails: (filter: { guestId?: number; limit: number }): Promise<MailRow[]> => {
      let q = db.selectFrom('mails').selectAll();
      if (filter.guestId !== undefined) q = q.where('guest_id', '=', filter.guestId);
      return q.orderBy('id').limit(filter.limit).execute();
    },
    /** The store's link-signing key, made on first use (concurrent first uses agree on one). */
    linkKey: async (): Promise<Buffer> => {
      const have = await db.selectFrom('link_keys').select('secret').where('id', '=', 1).executeTakeFirst();
      if (have !== undefined) return Buffer.from(have.secret, 'base64');
      await db.insertInto('link_keys').values({ id: 1, secret: randomBytes(32).toString('base64'), created_at: now() })
        .onConflict((oc) => oc.column('id').doNothing()).execute();
      const made = await db.selectFrom('link_keys').select('secret').where('id', '=', 1).executeTakeFirstOrThrow();
      return Buffer.from(made.secret, 'base64');
    },
  };
}

export type MailStore = ReturnType<typeof mailStore>;
