/**
 * Rehearsals (src/fleet/rehearse.ts): one row per rehearsal of a guest with the kernel it booted,
 * its outcome, and its own journal, kept in their own tables and module so that the fleet's
 * operations and their recovery never see them (a rehearsal never touches the guest, so nothing of
 * the switch's rollback applies to it).
 */
import { idColumn } from './portable.ts';
import type { ColumnType, Generated, Kysely, Selectable } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Operation } from './schema.ts';
import type { Store } from './store.ts';

/** `running` while it works; `passed`; `failed` (the test boot did not come up); `cannot-rehearse` (refused before anything was made). */
export type RehearsalStatus = 'running' | 'passed' | 'failed' | 'cannot-rehearse';

export type RehearsalsTable = {
  id: Generated<number>;
  guest_id: number;
  /** The kernel the rehearsal booted (the inspection verdict's kernel version, else the config's kernel). */
  kernel: string;
  /** The type rehearsed: `pvh` or `pvh-shim`. */
  to_type: string;
  status: RehearsalStatus;
  /** The last journaled step; for a failure, the step that failed. */
  step: string;
  /** The outcome as a rule code (`no-dm-snapshot`, `vg-full`, `verify`, ...) for programs. */
  rule: string | null;
  /** The outcome in words a customer understands. */
  reason: string | null;
  /** Technical detail for operators. */
  detail: string | null;
  /** The console's last lines of the test boot (guest text: escape it on output). */
  console_tail: string | null;
  /** The process running it (`HOST:PID`), as for operations. */
  owner: string | null;
  /**
   * The MiB its test boot takes, set when it passed the host's slot and memory check: from then
   * until it finishes it holds one of the host's slots and that memory (null: it holds neither).
   */
  memory_mb: ColumnType<number | null, number | null | undefined, number | null>;
  requested_by: string;
  created_at: string;
  updated_at: string;
};

export type RehearsalJournalTable = {
  id: Generated<number>;
  rehearsal_id: number;
  seq: number;
  step: string;
  phase: 'begin' | 'done' | 'failed';
  /** For `snapshot` and `write-config` begins: what is about to be made (JSON), so recovery can remove it. */
  detail: string | null;
  at: string;
};

export type Rehearsal = Selectable<RehearsalsTable>;
export type RehearsalJournalEntry = Selectable<RehearsalJournalTable>;
export type RehearsalTables = { rehearsals: RehearsalsTable; rehearsal_journal: RehearsalJournalTable };

/** The migration, numbered after the fleet's and the shell's so the branches never collide. */
export const rehearsalsMigration: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('rehearsals')
      .addColumn('id', 'integer', idColumn(db))
      .addColumn('guest_id', 'integer', (c) => c.notNull().references('guests.id').onDelete('cascade'))
      .addColumn('kernel', 'text', (c) => c.notNull())
      .addColumn('to_type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('step', 'text', (c) => c.notNull())
      .addColumn('rule', 'text')
      .addColumn('reason', 'text')
      .addColumn('detail', 'text')
      .addColumn('console_tail', 'text')
      .addColumn('owner', 'text')
      .addColumn('requested_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('rehearsals_guest').on('rehearsals').columns(['guest_id', 'kernel']).execute();
    await db.schema.createIndex('rehearsals_status').on('rehearsals').column('status').execute();
    await db.schema
      .createTable('rehearsal_journal')
      .addColumn('id', 'integer', idColumn(db))
      .addColumn('rehearsal_id', 'integer', (c) => c.notNull().references('rehearsals.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('step', 'text', (c) => c.notNull())
      .addColumn('phase', 'text', (c) => c.notNull())
      .addColumn('detail', 'text')
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('rehearsal_journal_seq').on('rehearsal_journal').columns(['rehearsal_id', 'seq']).unique().execute();
  },
  async down(db: Kysely<any>) {
    await db.schema.dropTable('rehearsal_journal').execute();
    await db.schema.dropTable('rehearsals').execute();
  },
};

/** The memory a rehearsal holds on its host, counted in the store so that the host's limits hold across processes. */
export const rehearsalMemoryMigration: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('rehearsals').addColumn('memory_mb', 'integer').execute();
  },
  async down(db: Kysely<any>) {
    await db.schema.alterTable('rehearsals').dropColumn('memory_mb').execute();
  },
};

/** A running rehearsal that holds a slot on its host (its check passed), as a slot check reads it. */
export type HeldSlot = Pick<Rehearsal, 'id' | 'owner' | 'updated_at'> & { memory_mb: number };

/** What takes a host's slots when a rehearsal asks for one, read in the check's transaction. */
export type HostSlots = {
  maxParallel: number;
  /** The host's running rehearsals that hold a slot, this one aside. */
  rehearsals: HeldSlot[];
  /** The host's running operations (switches, rollbacks, power), which hold a slot each. */
  operations: Pick<Operation, 'id' | 'owner' | 'lease_until' | 'updated_at'>[];
};

/**
 * The rehearsal queries over an open store.
 * @example
 * const r = rehearsals(store);
 * await r.latest(guestId) // => { id: 3, status: 'passed', kernel: '6.1.0-26-amd64', ... }
 */
export function rehearsals(store: Store) {
  const db = store.db.withTables<RehearsalTables>();
  const now = () => new Date().toISOString();
  return {
    create: async (r: { guest_id: number; kernel: string; to_type: string; owner: string; requested_by: string }): Promise<Rehearsal> =>
      db
        .insertInto('rehearsals')
        .values({ ...r, status: 'running', step: 'queued', rule: null, reason: null, detail: null, console_tail: null, created_at: now(), updated_at: now() })
        .returningAll()
        .executeTakeFirstOrThrow(),
    update: async (id: number, u: Partial<Omit<Rehearsal, 'id' | 'guest_id' | 'created_at'>>): Promise<void> => {
      await db.updateTable('rehearsals').set({ ...u, updated_at: now() }).where('id', '=', id).execute();
    },
    get: async (id: number): Promise<Rehearsal | undefined> => db.selectFrom('rehearsals').selectAll().where('id', '=', id).executeTakeFirst(),
    /** The guest's rehearsals, newest first. */
    ofGuest: async (guestId: number, limit = 20): Promise<Rehearsal[]> =>
      db.selectFrom('rehearsals').selectAll().where('guest_id', '=', guestId).orderBy('id', 'desc').limit(limit).execute(),
    /** The guest's newest finished rehearsal (of `kernel` when given). */
    latest: async (guestId: number, kernel?: string): Promise<Rehearsal | undefined> => {
      let q = db.selectFrom('rehearsals').selectAll().where('guest_id', '=', guestId).where('status', '!=', 'running');
      if (kernel !== undefined) q = q.where('kernel', '=', kernel);
      return q.orderBy('id', 'desc').limit(1).executeTakeFirst();
    },
    /**
     * Each guest's newest finished rehearsal of each target, whatever its kernel (the campaign
     * planner's input), by guest id: one target's rehearsal never hides the other's.
     */
    latestOfEach: async (): Promise<Map<number, Rehearsal[]>> => {
      const rows = await db.selectFrom('rehearsals').selectAll().where('status', '!=', 'running').orderBy('id').execute();
      const newest = new Map(rows.map((r) => [`${r.guest_id} ${r.to_type}`, r]));
      const out = new Map<number, Rehearsal[]>();
      for (const r of newest.values()) out.set(r.guest_id, [...(out.get(r.guest_id) ?? []), r]);
      return out;
    },
    /**
     * Ids of the host's running rehearsals whose `xl create` is done: from then on xl's
     * free_memory counts their domain. Read before free_memory, so that every rehearsal not in it
     * is one whose memory the reading may miss.
     */
    created: async (hostId: number): Promise<Set<number>> => {
      const rows = await db
        .selectFrom('rehearsal_journal')
        .innerJoin('rehearsals', 'rehearsals.id', 'rehearsal_journal.rehearsal_id')
        .innerJoin('guests', 'guests.id', 'rehearsals.guest_id')
        .select('rehearsals.id')
        .where('guests.host_id', '=', hostId)
        .where('rehearsals.status', '=', 'running')
        .where('rehearsal_journal.step', '=', 'create')
        .where('rehearsal_journal.phase', '=', 'done')
        .execute();
      return new Set(rows.map((r) => r.id));
    },
    /**
     * The host's slot check for rehearsal `id`, in one transaction: reads what takes the host's
     * slots, asks `decide`, and when it says ok records `memoryMb` on the rehearsal, which holds a
     * slot and that memory from then on. Two checks never interleave: PostgreSQL locks the host's
     * row; SQLite's `begin immediate` lets one writer in at a time, across processes too.
     * @example
     * await rehearsals(store).claimSlot(7, host.id, 1024, (s) => hostRoom(...)) // => { ok: true }
     */
    claimSlot: async <D extends { ok: boolean }>(id: number, hostId: number, memoryMb: number, decide: (s: HostSlots) => D): Promise<D> =>
      db.transaction().execute(async (t) => {
        let host = t.selectFrom('hosts').select('max_parallel').where('id', '=', hostId);
        if (store.engine === 'postgres') host = host.forUpdate();
        const { max_parallel } = await host.executeTakeFirstOrThrow();
        // The host's guests: what its rehearsals and operations run on.
        const onHost = t.selectFrom('guests').select('id').where('host_id', '=', hostId);
        const held = await t
          .selectFrom('rehearsals')
          .select(['id', 'owner', 'updated_at', 'memory_mb'])
          .where('guest_id', 'in', onHost)
          .where('status', '=', 'running')
          .where('memory_mb', 'is not', null)
          .where('id', '!=', id)
          .execute();
        const operations = await t.selectFrom('operations').select(['id', 'owner', 'lease_until', 'updated_at']).where('guest_id', 'in', onHost).where('status', '=', 'running').execute();
        const d = decide({ maxParallel: max_parallel, rehearsals: held.map((r) => ({ ...r, memory_mb: r.memory_mb! })), operations });
        if (d.ok) await t.updateTable('rehearsals').set({ memory_mb: memoryMb, updated_at: now() }).where('id', '=', id).execute();
        return d;
      }),
    running: async (): Promise<Rehearsal[]> => db.selectFrom('rehearsals').selectAll().where('status', '=', 'running').orderBy('id').execute(),
    journal: async (id: number, step: string, phase: RehearsalJournalEntry['phase'], detail: string | null): Promise<RehearsalJournalEntry> => {
      const last = await db.selectFrom('rehearsal_journal').select('seq').where('rehearsal_id', '=', id).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      const e = await db
        .insertInto('rehearsal_journal')
        .values({ rehearsal_id: id, seq: (last?.seq ?? 0) + 1, step, phase, detail, at: now() })
        .returningAll()
        .executeTakeFirstOrThrow();
      await db.updateTable('rehearsals').set({ step, updated_at: now() }).where('id', '=', id).execute();
      return e;
    },
    journalOf: async (id: number): Promise<RehearsalJournalEntry[]> =>
      db.selectFrom('rehearsal_journal').selectAll().where('rehearsal_id', '=', id).orderBy('seq').execute(),
  };
}

export type Rehearsals = ReturnType<typeof rehearsals>;
