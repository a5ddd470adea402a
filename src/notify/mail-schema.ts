/**
 * The notifier's tables and their migrations (ids 0700-0720), apart from their queries
 * (src/notify/mail-store.ts) so that src/store/migrations.ts imports no query code: each owner's
 * contact address, one row per campaign mail, and the key that signs the links in those mails.
 */
import type { Generated, Kysely, Selectable } from 'kysely';
import type { Migration } from 'kysely/migration';
import { idColumn } from '../store/portable.ts';
import type { NoticeKind } from '../fleet/notice.ts';

export type OwnerContactsTable = {
  id: Generated<number>;
  /** guests.owner (and tokens.owner for a customer token). */
  owner: string;
  email: string;
  updated_at: string;
};

/**
 * A mail's state, journal-style: `sending` is written before the SMTP transaction, so that a
 * crash between the relay's answer and the record leaves a row that says so (src/notify/smtp.ts).
 */
export type MailStatus = 'sending' | 'sent' | 'failed';

export type MailsTable = {
  id: Generated<number>;
  campaign_id: number;
  guest_id: number;
  kind: NoticeKind;
  /** The slot's start (ISO 8601): with campaign, guest and kind, the Notice's identity. */
  slot_start: string;
  owner: string;
  address: string;
  /** Chosen before the first try and sent as Message-ID on every try, so the relay and the customer's mail client see one message. */
  message_id: string;
  status: MailStatus;
  tries: number;
  error: string | null;
  created_at: string;
  updated_at: string;
};

export type LinkKeysTable = {
  /** Always 1: one key per store, shared by every API server on a PostgreSQL store. */
  id: number;
  /** 32 random bytes, base64. */
  secret: string;
  created_at: string;
};

export type MailTables = { owner_contacts: OwnerContactsTable; mails: MailsTable; link_keys: LinkKeysTable };
export type MailRow = Selectable<MailsTable>;
export type OwnerContact = Selectable<OwnerContactsTable>;

/** Owners' contact addresses (0700), the mail record (0710) and the link key (0720). */
export const mailMigrations: Record<string, Migration> = {
  '0700_owner_contacts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('owner_contacts')
        // An id as every table has, so that `pvhctl store copy` moves it like the others.
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('owner', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('owner_contacts').execute();
    },
  },
  '0710_mails': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('mails')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('campaign_id', 'integer', (c) => c.notNull())
        .addColumn('guest_id', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('slot_start', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('tries', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        // The Notice's identity: a campaign tick that runs twice finds the row and sends nothing.
        .addUniqueConstraint('mails_notice', ['campaign_id', 'guest_id', 'kind', 'slot_start'])
        .execute();
      await db.schema.createIndex('mails_guest').on('mails').column('guest_id').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('mails').execute();
    },
  },
  '0720_link_keys': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('link_keys')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('link_keys').execute();
    },
  },
};

