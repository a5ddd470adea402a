/**
 * Campaigns (src/fleet/campaign.ts): one row per campaign with its policy, scope, windows and
 * state, and one row per guest in it with its wave, its slot, its outcome and which mails went out
 * for which slot. Their own tables and module, as rehearsals have, so that the switch machinery
 * never sees them. Every state change that two ticks (two processes) could both make is a
 * compare-and-set on the row, so that only one of them acts.
 */
import { idColumn } from './portable.ts';
import { sql, type Generated, type Kysely, type Selectable } from 'kysely';
import type { Migration } from 'kysely/migration';
import { BULK_ROWS, chunks } from './bulk.ts';
import type { Store } from './store.ts';

/** `draft` until started; `running`; `paused` (by an operator or by its failure threshold); `cancelled`; `done`. */
export type CampaignStatus = 'draft' | 'running' | 'paused' | 'cancelled' | 'done';

/**
 * A guest's place in a campaign: `held` (its path keeps it out), `planned` (waiting for its slot),
 * `submitting` (claimed by a tick, its operation being created), `submitted` (its operation runs),
 * then its outcome: `switched`, `rolled-back`, `refused` (the pre-check said no, nothing changed),
 * `needs-attention`; `skipped` when the campaign was cancelled first.
 */
export type CampaignGuestStatus = 'held' | 'planned' | 'submitting' | 'submitted' | 'switched' | 'rolled-back' | 'refused' | 'needs-attention' | 'skipped';

/** The statuses a guest no longer moves out of. */
export const FINAL_GUEST_STATUSES: readonly CampaignGuestStatus[] = ['switched', 'rolled-back', 'refused', 'needs-attention', 'skipped', 'held'];

export type CampaignsTable = {
  id: Generated<number>;
  name: string;
  status: CampaignStatus;
  /** The campaign's policy (src/fleet/campaign.ts CampaignSettings), JSON. */
  policy: string;
  /** The hosts, guests and owners it was created over (JSON); empty lists mean all. */
  scope: string;
  /** Each host's window spec by host name (JSON: `{"xen1": "Tue-Thu 02:00-05:00 Europe/Berlin"}`). */
  windows: string;
  /** Why it paused, in operator words (null unless paused). */
  pause_reason: string | null;
  /** The last day a slot may fall on (ISO instant), from its start and the policy's length. */
  ends_at: string | null;
  started_at: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  /** The process running its tick and until when (ISO instant): two ticks never run at once. */
  tick_owner: string | null;
  tick_until: string | null;
};

export type CampaignGuestsTable = {
  id: Generated<number>;
  campaign_id: number;
  guest_id: number;
  guest_name: string;
  host_name: string;
  owner: string | null;
  /** Its wave (0 the canary when there is one); null for a held guest. */
  wave: number | null;
  wave_kind: 'canary' | 'main' | null;
  /** The switch target (`pvh`, `pvh-shim`); null for a held guest. */
  to_type: string | null;
  /** The planner's GuestPath, JSON. */
  path: string;
  status: CampaignGuestStatus;
  slot_start: string | null;
  slot_end: string | null;
  operation_id: number | null;
  /** When a tick or a customer claimed it to start its switch (ISO instant). */
  claimed_at: string | null;
  /** The customer's choice: `early`, `slot` or `postponed`; null for none. */
  choice: string | null;
  /** How many times the customer postponed it (the policy allows one). */
  postponed: number;
  /** The slot start each mail went out for (so that a new slot gets new mail, and a slot one mail each). */
  notice_for: string | null;
  reminder_for: string | null;
  result_for: string | null;
  /** The outcome in customer words (rolled back, refused, or why it was not started). */
  outcome_reason: string | null;
  /** A failure an operator accepted by resuming: the failure threshold no longer counts it. */
  acknowledged: number;
  updated_at: string;
};

export type Campaign = Selectable<CampaignsTable>;
export type CampaignGuest = Selectable<CampaignGuestsTable>;
export type CampaignTables = { campaigns: CampaignsTable; campaign_guests: CampaignGuestsTable };

/** The migration (the 0600 range is the campaigns'); also gives hosts a time zone, UTC by default. */
export const campaignsMigration: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('hosts').addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('UTC')).execute();
    await db.schema
      .createTable('campaigns')
      .addColumn('id', 'integer', idColumn(db))
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('windows', 'text', (c) => c.notNull())
      .addColumn('pause_reason', 'text')
      .addColumn('ends_at', 'text')
      .addColumn('started_at', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('tick_owner', 'text')
      .addColumn('tick_until', 'text')
      .execute();
    await db.schema
      .createTable('campaign_guests')
      .addColumn('id', 'integer', idColumn(db))
      .addColumn('campaign_id', 'integer', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
      .addColumn('guest_id', 'integer', (c) => c.notNull().references('guests.id').onDelete('cascade'))
      .addColumn('guest_name', 'text', (c) => c.notNull())
      .addColumn('host_name', 'text', (c) => c.notNull())
      .addColumn('owner', 'text')
      .addColumn('wave', 'integer')
      .addColumn('wave_kind', 'text')
      .addColumn('to_type', 'text')
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('slot_start', 'text')
      .addColumn('slot_end', 'text')
      .addColumn('operation_id', 'integer')
      .addColumn('claimed_at', 'text')
      .addColumn('choice', 'text')
      .addColumn('postponed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('notice_for', 'text')
      .addColumn('reminder_for', 'text')
      .addColumn('result_for', 'text')
      .addColumn('outcome_reason', 'text')
      .addColumn('acknowledged', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('campaign_guests_one', ['campaign_id', 'guest_id'])
      .execute();
    await db.schema.createIndex('campaign_guests_owner').on('campaign_guests').column('owner').execute();
  },
  async down(db: Kysely<any>) {
    await db.schema.dropTable('campaign_guests').execute();
    await db.schema.dropTable('campaigns').execute();
    await db.schema.alterTable('hosts').dropColumn('time_zone').execute();
  },
};

type MailColumn = 'notice_for' | 'reminder_for' | 'result_for';

/**
 * The campaign queries over an open store. `now` is the campaign clock's time (ISO), passed in so
 * that tests moving the clock see consistent leases.
 * @example
 * const c = campaigns(store);
 * await c.byName('autumn') // => { id: 1, name: 'autumn', status: 'running', ... }
 */
export function campaigns(store: Store) {
  const db = store.db.withTables<CampaignTables>();
  const stamp = () => new Date().toISOString();
  const changed = (r: { numUpdatedRows: bigint }) => Number(r.numUpdatedRows) === 1;
  return {
    create: async (c: Pick<Campaign, 'name' | 'policy' | 'scope' | 'windows' | 'created_by'>, guests: Omit<CampaignGuest, 'id' | 'campaign_id' | 'updated_at'>[]): Promise<Campaign> =>
      db.transaction().execute(async (t) => {
        const row = await t
          .insertInto('campaigns')
          .values({ ...c, status: 'draft', pause_reason: null, ends_at: null, started_at: null, created_at: stamp(), updated_at: stamp(), tick_owner: null, tick_until: null })
          .returningAll()
          .executeTakeFirstOrThrow();
        for (let i = 0; i < guests.length; i += 200) {
          const page = guests.slice(i, i + 200).map((g) => ({ ...g, campaign_id: row.id, updated_at: stamp() }));
          if (page.length > 0) await t.insertInto('campaign_guests').values(page).execute();
        }
        return row;
      }),
    byName: async (name: string): Promise<Campaign | undefined> => db.selectFrom('campaigns').selectAll().where('name', '=', name).executeTakeFirst(),
    get: async (id: number): Promise<Campaign | undefined> => db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst(),
    list: async (): Promise<Campaign[]> => db.selectFrom('campaigns').selectAll().orderBy('id').execute(),
    /** Moves the campaign from one of `from` to `to` (compare-and-set); false when it was not in `from`. */
    setStatus: async (id: number, from: readonly CampaignStatus[], to: CampaignStatus, also: Partial<Pick<Campaign, 'pause_reason' | 'started_at' | 'ends_at'>> = {}): Promise<boolean> =>
      changed(await db.updateTable('campaigns').set({ status: to, ...also, updated_at: stamp() }).where('id', '=', id).where('status', 'in', [...from]).executeTakeFirst()),
    /** Takes the campaign's tick for `owner` until `until` when nobody holds it (or theirs ran out). */
    takeTick: async (id: number, owner: string, now: string, until: string): Promise<boolean> =>
      changed(
        await db
          .updateTable('campaigns')
          .set({ tick_owner: owner, tick_until: until })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('tick_until', 'is', null), eb('tick_until', '<=', now)]))
          .executeTakeFirst(),
      ),
    releaseTick: async (id: number, owner: string): Promise<void> => {
      await db.updateTable('campaigns').set({ tick_owner: null, tick_until: null }).where('id', '=', id).where('tick_owner', '=', owner).execute();
    },
    guests: async (campaignId: number): Promise<CampaignGuest[]> =>
      db.selectFrom('campaign_guests').selectAll().where('campaign_id', '=', campaignId).orderBy('wave').orderBy('host_name').orderBy('guest_name').execute(),
    guest: async (campaignId: number, guestId: number): Promise<CampaignGuest | undefined> =>
      db.selectFrom('campaign_guests').selectAll().where('campaign_id', '=', campaignId).where('guest_id', '=', guestId).executeTakeFirst(),
    /** Every campaign row of the guests `owner` owns, in campaigns that are not drafts. */
    ofOwner: async (owner: string): Promise<(CampaignGuest & { campaign_name: string; campaign_status: CampaignStatus })[]> =>
      db
        .selectFrom('campaign_guests')
        .innerJoin('campaigns', 'campaigns.id', 'campaign_guests.campaign_id')
        .selectAll('campaign_guests')
        .select(['campaigns.name as campaign_name', 'campaigns.status as campaign_status'])
        .where('campaign_guests.owner', '=', owner)
        .where('campaigns.status', '!=', 'draft')
        .orderBy('campaign_guests.id')
        .execute(),
    /** Updates guest row `id` if its status is one of `from` (compare-and-set). */
    updateGuest: async (id: number, from: readonly CampaignGuestStatus[], u: Partial<Omit<CampaignGuest, 'id' | 'campaign_id' | 'guest_id'>>): Promise<boolean> =>
      changed(await db.updateTable('campaign_guests').set({ ...u, updated_at: stamp() }).where('id', '=', id).where('status', 'in', [...from]).executeTakeFirst()),
    /**
     * Claims the planned rows `ids` for submission (planned to submitting, compare-and-set, one
     * statement per BULK_ROWS rows); returns the ids claimed: a row another tick took, or a
     * customer's choice moved out of planned, is not.
     */
    claimGuests: async (ids: readonly number[], claimedAt: string, also: Partial<Pick<CampaignGuest, 'choice'>> = {}): Promise<number[]> => {
      const out: number[] = [];
      for (const part of chunks(ids, BULK_ROWS)) {
        const rows = await db.updateTable('campaign_guests').set({ status: 'submitting', claimed_at: claimedAt, ...also, updated_at: stamp() })
          .where('id', 'in', part).where('status', '=', 'planned').returning('id').execute();
        out.push(...rows.map((r) => r.id));
      }
      return out;
    },
    /**
     * Records the operations of claimed rows (submitting to submitted, with the slot each ran in),
     * one statement per BULK_ROWS rows; returns how many rows it moved.
     */
    recordSubmitted: async (rows: readonly { id: number; operation_id: number; slot_start: string | null; slot_end: string | null }[]): Promise<number> => {
      let n = 0;
      for (const part of chunks(rows, BULK_ROWS)) {
        // One value per row: CASE id WHEN 7 THEN 41 ... END, the same on SQLite and PostgreSQL (the
        // cast tells PostgreSQL the parameter's type, which it cannot infer inside CASE).
        const pick = <K extends 'operation_id' | 'slot_start' | 'slot_end'>(k: K, type: 'INTEGER' | 'TEXT') =>
          sql<CampaignGuest[K]>`CASE id ${sql.join(part.map((r) => sql`WHEN ${r.id} THEN CAST(${r[k]} AS ${sql.raw(type)})`), sql` `)} END`;
        const r = await db.updateTable('campaign_guests')
          .set({ status: 'submitted', operation_id: pick('operation_id', 'INTEGER'), slot_start: pick('slot_start', 'TEXT'), slot_end: pick('slot_end', 'TEXT'), updated_at: stamp() })
          .where('id', 'in', part.map((x) => x.id)).where('status', '=', 'submitting').executeTakeFirst();
        n += Number(r.numUpdatedRows);
      }
      return n;
    },
    /**
     * Marks mail `column` sent for `slot` unless it already was (compare-and-set): of two ticks,
     * one sends. `unmark` gives it back when the send failed, so the next tick tries again.
     */
    markMail: async (id: number, column: MailColumn, slot: string): Promise<boolean> =>
      changed(
        await db
          .updateTable('campaign_guests')
          .set({ [column]: slot, updated_at: stamp() })
          .where('id', '=', id)
          .where((eb) => eb.or([eb(column, 'is', null), eb(column, '!=', slot)]))
          .executeTakeFirst(),
      ),
    unmarkMail: async (id: number, column: MailColumn, slot: string): Promise<void> => {
      await db.updateTable('campaign_guests').set({ [column]: null }).where('id', '=', id).where(column, '=', slot).execute();
    },
    acknowledgeFailures: async (campaignId: number): Promise<void> => {
      await db.updateTable('campaign_guests').set({ acknowledged: 1 }).where('campaign_id', '=', campaignId).where('status', 'in', ['rolled-back', 'refused', 'needs-attention']).execute();
    },
    /** The hosts' IANA time zones by name. */
    timeZones: async (): Promise<Map<string, string>> => new Map((await db.selectFrom('hosts').select(['name', 'time_zone']).execute()).map((h) => [h.name, h.time_zone])),
  };
}

export type Campaigns = ReturnType<typeof campaigns>;
