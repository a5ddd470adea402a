/**
 * The store: pvhctl's inventory (hosts, guests), kept config versions, operations with their step
 * journal, and the audit log. Everything goes through the typed queries below, so the SQLite
 * default and a later PostgreSQL adapter differ only in the Kysely dialect.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CompiledQuery, Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { BULK_ROWS, chunks } from './bulk.ts';
import { migrations } from './migrations.ts';
import { nodeSqliteDialect } from './node-sqlite-dialect.ts';
import { engineOf, type Engine } from './portable.ts';
import type { RehearsalTables } from './rehearsals.ts';
import type { Step } from '../fleet/steps.ts';
import type { GuestType } from '../fleet/types.ts';
import type {
  AuditEntry,
  ConfigVersion,
  Guest,
  Host,
  HostUpdate,
  JournalEntry,
  NewGuest,
  NewHost,
  Operation,
  OperationStatus,
  Tables,
  Token,
} from './schema.ts';

export type Db = Kysely<Tables> | Transaction<Tables>;

/**
 * Raw SQL run in transaction `t` (PostgreSQL placeholders, $1...): how a library that writes its
 * own tables (pg-boss's jobs) writes them in the same transaction as the store's rows.
 * @example
 * await sqlIn(t).executeSql('select $1::int as n', [1]) // => { rows: [{ n: 1 }] }
 */
export function sqlIn(t: Db): { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> } {
  return { executeSql: async (text, values = []) => ({ rows: [...(await t.executeQuery(CompiledQuery.raw(text, values))).rows] }) };
}

/** This process, as recorded in operations.owner. */
export const OWNER = `${hostname()}:${process.pid}`;

/** The lease a new operation starts with (src/fleet/lease.ts renews it while the operation runs). */
export const FIRST_LEASE_MS = 30_000;

/**
 * This process no longer holds operation `operationId`: its lease ran out (the process was frozen,
 * or cut off from the database) and another process may have taken the operation over. The
 * process must stop acting on the guest and leave the operation to its new owner.
 */
export class LeaseLost extends Error {
  readonly operationId: number;
  constructor(operationId: number) {
    super(`operation ${operationId}: this process's lease on it ran out; another process may hold it now, so this one stops`);
    this.name = 'LeaseLost';
    this.operationId = operationId;
  }
}

const now = (): string => new Date().toISOString();


/** The file name of the SQLite database inside a data directory. */
export const SQLITE_FILE = 'pvhctl.sqlite';

function openSqlite(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  // WAL: readers (the API, a CLI) never block the switch loop's writes; NORMAL is durable across
  // a process crash (kill -9), which is the failure the journal guards against.
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;');
  return db;
}

/** Applies every pending migration; returns the names applied. */
async function migrate(db: Kysely<Tables>): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  // Unordered: migrations are numbered in ranges per concern (0001.., 0500.., 0900..), so one
  // added later in a lower range must still apply to a store that already has a higher one.
  const { error, results } = await new Migrator({ db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Whether a `--store` value names a PostgreSQL database rather than a SQLite data directory. */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//.test(location);

/** How many connections one process keeps to PostgreSQL (a worker, an API, a CLI command). */
const PG_POOL = 10;

/**
 * The URL without its password, for logs and `store.path`.
 * @example
 * redactUrl('postgresql://pvhctl:secret@db1/pvhctl') // => 'postgresql://pvhctl:***@db1/pvhctl'
 */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/**
 * Opens a store and brings its schema up to date: the PostgreSQL database at a `postgresql://`
 * URL, else the SQLite file in the data directory `location` (created if needed), or an
 * in-memory SQLite store for `:memory:`.
 * @example
 * const store = await openStore(':memory:');
 * await store.listHosts() // => []
 * await openStore('postgresql://pvhctl@db1/pvhctl') // the same queries on PostgreSQL
 */
export async function openStore(location: string): Promise<Store> {
  if (isPostgresUrl(location)) {
    const pool = new pg.Pool({ connectionString: location, max: PG_POOL });
    // An idle connection dropped by the server (restart, failover) must not crash the process.
    pool.on('error', () => {});
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    await migrate(db);
    return makeStore(db, redactUrl(location));
  }
  const dataDir = location;
  let path = ':memory:';
  if (dataDir !== ':memory:') {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    path = join(dataDir, SQLITE_FILE);
  }
  const db = new Kysely<Tables>({ dialect: nodeSqliteDialect(() => openSqlite(path)) });
  await migrate(db);
  return makeStore(db, path);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a journal write also sets on its operation: the run state before it, the type it switches from. */
export type JournalAlso = Pick<Partial<Operation>, 'prior_state' | 'from_type'>;

/** One journal entry to write: a step, its phase, its detail. */
export type JournalWrite = { step: Step; phase: JournalEntry['phase']; detail: string | null };

export type GuestFilter = { hostId?: number; owner?: string; health?: Guest['health']; limit?: number; offset?: number };

/** Whether `err` is a unique-constraint violation, as PostgreSQL (23505) or SQLite reports it. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown };
  return e?.code === '23505' || e?.errcode === 2067 || e?.errcode === 1555 || (typeof e?.message === 'string' && e.message.includes('UNIQUE constraint failed'));
}

/** Builds the typed query functions over an open Kysely instance. */
export function makeStore(db: Kysely<Tables>, path: string) {
  const engine: Engine = engineOf(db);
  /** Runs `fn` in `t` if it is a transaction already, else in a new one. */
  const inTx = <T>(t: Db, fn: (t: Transaction<Tables>) => Promise<T>): Promise<T> =>
    t.isTransaction ? fn(t as Transaction<Tables>) : (t as Kysely<Tables>).transaction().execute(fn);
  const store = {
    db,
    path,
    engine,
    close: () => db.destroy(),
    /** Runs `fn` in one transaction (the unit a crash leaves all-or-nothing). */
    tx: <T>(fn: (t: Transaction<Tables>) => Promise<T>) => db.transaction().execute(fn),

    // hosts
    addHost: async (h: Omit<NewHost, 'created_at'>): Promise<Host> =>
      db.insertInto('hosts').values({ ...h, created_at: now() }).returningAll().executeTakeFirstOrThrow(),
    updateHost: async (id: number, u: HostUpdate): Promise<void> => {
      await db.updateTable('hosts').set(u).where('id', '=', id).execute();
    },
    getHost: async (name: string): Promise<Host | undefined> =>
      db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst(),
    getHostById: async (id: number): Promise<Host | undefined> =>
      db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst(),
    listHosts: async (): Promise<Host[]> => db.selectFrom('hosts').selectAll().orderBy('name').execute(),

    // guests
    /** Inserts or refreshes a discovered guest (keyed by host and name); keeps owner and health. */
    upsertGuest: async (g: Omit<NewGuest, 'updated_at' | 'health'>, t: Db = db): Promise<Guest> =>
      t
        .insertInto('guests')
        .values({ ...g, health: 'ok', updated_at: now() })
        .onConflict((oc) =>
          oc.columns(['host_id', 'name']).doUpdateSet((eb) => ({
            config_path: eb.ref('excluded.config_path'),
            current_type: eb.ref('excluded.current_type'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow(),
    updateGuest: async (id: number, u: Partial<Omit<Guest, 'id'>>, t: Db = db): Promise<void> => {
      await t.updateTable('guests').set({ ...u, updated_at: now() }).where('id', '=', id).execute();
    },
    getGuest: async (name: string, hostId?: number): Promise<Guest[]> => {
      let q = db.selectFrom('guests').selectAll().where('name', '=', name);
      if (hostId !== undefined) q = q.where('host_id', '=', hostId);
      return q.execute();
    },
    getGuestById: async (id: number, t: Db = db): Promise<Guest | undefined> =>
      t.selectFrom('guests').selectAll().where('id', '=', id).executeTakeFirst(),
    listGuests: async (f: GuestFilter = {}): Promise<Guest[]> => {
      let q = db.selectFrom('guests').selectAll();
      if (f.hostId !== undefined) q = q.where('host_id', '=', f.hostId);
      if (f.owner !== undefined) q = q.where('owner', '=', f.owner);
      if (f.health !== undefined) q = q.where('health', '=', f.health);
      q = q.orderBy('host_id').orderBy('name');
      if (f.limit !== undefined) q = q.limit(f.limit).offset(f.offset ?? 0);
      return q.execute();
    },
    countGuests: async (): Promise<{ type: GuestType; health: Guest['health']; n: number }[]> => {
      const rows = await db
        .selectFrom('guests')
        .select((eb) => ['current_type', 'health', eb.fn.countAll<number>().as('n')])
        .groupBy(['current_type', 'health'])
        .execute();
      return rows.map((r) => ({ type: r.current_type, health: r.health, n: Number(r.n) }));
    },

    // config versions
    /** Keeps `content` as a version of the guest's config; the bytes come back identical. */
    keepConfig: async (guestId: number, content: Uint8Array, reason: string, operationId: number | null, t: Db = db): Promise<ConfigVersion> =>
      t
        .insertInto('config_versions')
        .values({ guest_id: guestId, content, sha256: sha256(content), reason, operation_id: operationId, created_at: now() })
        .returningAll()
        .executeTakeFirstOrThrow(),
    getConfigVersion: async (id: number): Promise<ConfigVersion | undefined> =>
      db.selectFrom('config_versions').selectAll().where('id', '=', id).executeTakeFirst(),
    listConfigVersions: async (guestId: number): Promise<Omit<ConfigVersion, 'content'>[]> =>
      db
        .selectFrom('config_versions')
        .select(['id', 'guest_id', 'reason', 'sha256', 'operation_id', 'created_at'])
        .where('guest_id', '=', guestId)
        .orderBy('id')
        .execute(),

    // operations and their journal
    createOperation: async (
      o: Pick<Operation, 'guest_id' | 'kind' | 'from_type' | 'to_type' | 'force' | 'requested_by'> & { pod?: Operation['pod'] },
      t: Db = db,
    ): Promise<Operation> =>
      t
        .insertInto('operations')
        .values({ ...o, status: 'pending', step: 'created', owner: OWNER, created_at: now(), updated_at: now() })
        .returningAll()
        .executeTakeFirstOrThrow(),
    /**
     * Creates an operation unless the guest already has an unfinished one, in one transaction with
     * `also` (the guest's health, the audit row). Returns null when the guest is busy: the check
     * runs inside the transaction, and the partial unique index on unfinished operations refuses
     * the loser of a race between processes.
     */
    createOperationIfIdle: async (
      o: Pick<Operation, 'guest_id' | 'kind' | 'from_type' | 'to_type' | 'force' | 'requested_by'> & { pod?: Operation['pod'] },
      also: (t: Transaction<Tables>, op: Operation) => Promise<void> = async () => {},
      /** `queued`: no owner yet; a worker claims it from the job queue (src/fleet/worker.ts). */
      mode: 'here' | 'queued' = 'here',
    ): Promise<Operation | null> => {
      const owner = mode === 'here' ? { owner: OWNER, lease_until: new Date(Date.now() + FIRST_LEASE_MS).toISOString() } : { owner: null, lease_until: null };
      try {
        return await db.transaction().execute(async (t) => {
          const busy = await t.selectFrom('operations').select('id').where('guest_id', '=', o.guest_id).where('status', 'in', ['pending', 'running']).executeTakeFirst();
          if (busy !== undefined) return null;
          const op = await t
            .insertInto('operations')
            .values({ ...o, status: 'pending', step: 'created', ...owner, created_at: now(), updated_at: now() })
            .returningAll()
            .executeTakeFirstOrThrow();
          await also(t, op);
          return op;
        });
      } catch (err) {
        if (isUniqueViolation(err)) return null;
        throw err;
      }
    },
    /**
     * Creates an operation for each request whose guest has no unfinished one, all in one
     * transaction with `also` (given the operations created: the guests' health, audit rows, the
     * jobs that hand them to workers). A guest that is busy, or named twice, gets no second one:
     * the busy check runs inside the transaction, and an insert that loses a race with another
     * process to the partial unique index (one unfinished operation per guest) is skipped, not an
     * error, so the other requests of the batch still go through. Returns the operations created.
     * @example
     * await store.createOperationsIfIdle([{ guest_id: 1, kind: 'switch', ... }, ...], also, 'queued') // => [op1, ...]
     */
    createOperationsIfIdle: async (
      os: (Pick<Operation, 'guest_id' | 'kind' | 'from_type' | 'to_type' | 'force' | 'requested_by'> & { pod?: Operation['pod'] })[],
      also: (t: Transaction<Tables>, ops: Operation[]) => Promise<void> = async () => {},
      mode: 'here' | 'queued' = 'here',
    ): Promise<Operation[]> => {
      if (os.length === 0) return [];
      const owner = mode === 'here' ? { owner: OWNER, lease_until: new Date(Date.now() + FIRST_LEASE_MS).toISOString() } : { owner: null, lease_until: null };
      return db.transaction().execute(async (t) => {
        const busy = new Set<number>();
        for (const ids of chunks([...new Set(os.map((o) => o.guest_id))], BULK_ROWS)) {
          const rows = await t.selectFrom('operations').select('guest_id').where('guest_id', 'in', ids).where('status', 'in', ['pending', 'running']).execute();
          for (const r of rows) busy.add(r.guest_id);
        }
        // In guest order: two batches that overlap take the index's row locks in the same order,
        // so one waits for the other instead of both deadlocking.
        const idle = os.filter((o) => !busy.has(o.guest_id) && (busy.add(o.guest_id), true)).sort((a, b) => a.guest_id - b.guest_id);
        const created: Operation[] = [];
        for (const part of chunks(idle, BULK_ROWS)) {
          const at = now();
          const rows = await t
            .insertInto('operations')
            .values(part.map((o) => ({ ...o, status: 'pending' as const, step: 'created' as const, ...owner, created_at: at, updated_at: at })))
            // Another process's operation on one of these guests, committed since the check above.
            .onConflict((oc) => oc.doNothing())
            .returningAll()
            .execute();
          created.push(...rows);
        }
        await also(t, created);
        return created;
      });
    },
    /** Sets the health of many guests in one statement per BULK_ROWS guests. */
    setGuestsHealth: async (ids: number[], health: Guest['health'], t: Db = db): Promise<void> => {
      for (const part of chunks(ids, BULK_ROWS)) await t.updateTable('guests').set({ health }).where('id', 'in', part).execute();
    },
    /** Appends many audit rows in one statement per BULK_ROWS rows. */
    auditMany: async (rows: { actor: string; action: string; target: string; detail: string | null }[], t: Db = db): Promise<void> => {
      const at = now();
      for (const part of chunks(rows, BULK_ROWS)) await t.insertInto('audit').values(part.map((r) => ({ ...r, at }))).execute();
    },
    /**
     * Takes `id` over for `owner` until `leaseUntil`, if it is still held by `expected` (the owner
     * the caller read): of two processes recovering the same operation, one wins. With
     * `expectedLease` (the lease end the caller read and judged run out), also only if the owner
     * has not renewed it since: a frozen owner that woke up and renewed in time keeps it.
     */
    claimOperation: async (id: number, expected: string | null, owner: string, leaseUntil: string, expectedLease?: string | null): Promise<boolean> => {
      let q = db.updateTable('operations').set({ owner, lease_until: leaseUntil, updated_at: now() }).where('id', '=', id).where('status', 'in', ['pending', 'running']);
      q = expected === null ? q.where('owner', 'is', null) : q.where('owner', '=', expected);
      if (expectedLease !== undefined) q = expectedLease === null ? q.where('lease_until', 'is', null) : q.where('lease_until', '=', expectedLease);
      return Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
    },
    /** Extends the lease of the operations `owner` holds; returns the ids it still holds (the others were taken over). */
    renewLeases: async (ids: number[], owner: string, leaseUntil: string): Promise<number[]> => {
      if (ids.length === 0) return [];
      const rows = await db.updateTable('operations').set({ lease_until: leaseUntil }).where('id', 'in', ids).where('owner', '=', owner).returning('id').execute();
      return rows.map((r) => r.id);
    },
    /**
     * Throws LeaseLost unless `owner` still holds operation `id`; inside transaction `t` it also
     * locks the row (PostgreSQL), so that nobody takes it over before `t` commits.
     */
    fence: async (id: number, owner: string, t: Db = db): Promise<void> => {
      const r = await t.updateTable('operations').set({ owner }).where('id', '=', id).where('owner', '=', owner).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new LeaseLost(id);
    },
    /**
     * Starts pending operation `id` if its host has a free slot: under a lock on the host's row,
     * counts the host's running operations and, below `max_parallel`, marks this one running.
     * Every worker goes through this, so the per-host limit holds across processes; an operation
     * whose worker died stays running (its slot taken) until another worker finishes it. The
     * host's test boots past their check hold a slot each too, those `live` says still run
     * (src/store/rehearsals.ts: claimSlot counts the operations the same way).
     */
    takeHostSlot: async (id: number, live: (r: Pick<Operation, 'owner' | 'updated_at'>) => boolean = () => true): Promise<boolean> =>
      db.transaction().execute(async (t) => {
        const op = await t.selectFrom('operations').innerJoin('guests', 'guests.id', 'operations.guest_id').select(['guests.host_id', 'operations.status']).where('operations.id', '=', id).executeTakeFirstOrThrow();
        if (op.status !== 'pending') return op.status === 'running';
        let host = t.selectFrom('hosts').select('max_parallel').where('id', '=', op.host_id);
        // SQLite has no row locks; its one writer at a time serialises this transaction anyway.
        if (engine === 'postgres') host = host.forUpdate();
        const { max_parallel } = await host.executeTakeFirstOrThrow();
        const running = await t
          .selectFrom('operations')
          .innerJoin('guests', 'guests.id', 'operations.guest_id')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('guests.host_id', '=', op.host_id)
          .where('operations.status', '=', 'running')
          .executeTakeFirstOrThrow();
        const rehearsing = await t
          .withTables<RehearsalTables>()
          .selectFrom('rehearsals')
          .select(['owner', 'updated_at'])
          .where('guest_id', 'in', t.selectFrom('guests').select('id').where('host_id', '=', op.host_id))
          .where('status', '=', 'running')
          .where('memory_mb', 'is not', null)
          .execute();
        if (Number(running.n) + rehearsing.filter(live).length >= Math.max(1, max_parallel)) return false;
        await t.updateTable('operations').set({ status: 'running', updated_at: now() }).where('id', '=', id).execute();
        return true;
      }),
    updateOperation: async (id: number, u: Partial<Omit<Operation, 'id'>>, t: Db = db): Promise<void> => {
      await t.updateTable('operations').set({ ...u, updated_at: now() }).where('id', '=', id).execute();
    },
    getOperation: async (id: number): Promise<Operation | undefined> =>
      db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst(),
    /** The operations with these ids (those that exist), in id order. */
    operationsByIds: async (ids: number[]): Promise<Operation[]> => {
      const out: Operation[] = [];
      for (const part of chunks(ids, BULK_ROWS)) out.push(...(await db.selectFrom('operations').selectAll().where('id', 'in', part).execute()));
      return out.sort((a, b) => a.id - b.id);
    },
    listOperations: async (f: { guestId?: number; status?: OperationStatus[]; limit?: number } = {}): Promise<Operation[]> => {
      let q = db.selectFrom('operations').selectAll();
      if (f.guestId !== undefined) q = q.where('guest_id', '=', f.guestId);
      if (f.status !== undefined && f.status.length > 0) q = q.where('status', 'in', f.status);
      return q.orderBy('id', 'desc').limit(f.limit ?? 1000).execute();
    },
    /** Each finished switch of these guests (all when none are named), oldest first: what booting showed. */
    switchOutcomes: async (guestIds?: number[]): Promise<Pick<Operation, 'guest_id' | 'to_type' | 'status'>[]> => {
      let q = db.selectFrom('operations').select(['guest_id', 'to_type', 'status']).where('kind', '=', 'switch').where('status', 'in', ['done', 'rolled-back']);
      if (guestIds !== undefined) q = q.where('guest_id', 'in', guestIds.length > 0 ? guestIds : [-1]);
      return q.orderBy('id').execute();
    },
    /** How long the host's latest finished switches kept their guest down (ms): `shutdown` begun to `verify` done. */
    switchDowntimes: async (hostId: number, limit: number): Promise<number[]> => {
      const ops = await db
        .selectFrom('operations')
        .innerJoin('guests', 'guests.id', 'operations.guest_id')
        .select('operations.id')
        .where('guests.host_id', '=', hostId)
        .where('operations.kind', '=', 'switch')
        .where('operations.status', '=', 'done')
        .orderBy('operations.id', 'desc')
        .limit(limit)
        .execute();
      if (ops.length === 0) return [];
      const rows = await db
        .selectFrom('journal')
        .select(['operation_id', 'step', 'phase', 'at'])
        .where('operation_id', 'in', ops.map((o) => o.id))
        .where((eb) => eb.or([eb.and([eb('step', '=', 'shutdown'), eb('phase', '=', 'begin')]), eb.and([eb('step', '=', 'verify'), eb('phase', '=', 'done')])]))
        .execute();
      return ops.flatMap((o) => {
        const from = rows.find((r) => r.operation_id === o.id && r.step === 'shutdown');
        const to = rows.find((r) => r.operation_id === o.id && r.step === 'verify');
        return from && to ? [Date.parse(to.at) - Date.parse(from.at)] : [];
      });
    },
    /** Operations a crash may have left half-done. */
    unfinishedOperations: async (): Promise<Operation[]> =>
      db.selectFrom('operations').selectAll().where('status', 'in', ['pending', 'running']).orderBy('id').execute(),
    /**
     * The unfinished operations except those still waiting in the job queue (pending with no
     * owner: the queue hands them out): what a worker's sweep for dead owners reads, so that it
     * reads the operations in flight, not a fleet-sized backlog.
     */
    inFlightOperations: async (): Promise<Operation[]> =>
      db
        .selectFrom('operations')
        .selectAll()
        .where((eb) => eb.or([eb('status', '=', 'running'), eb.and([eb('status', '=', 'pending'), eb('owner', 'is not', null)])]))
        .orderBy('id')
        .execute(),
    /** Appends one journal entry; `seq` numbers the entries of one operation from 1. */
    journal: async (operationId: number, step: Step, phase: JournalEntry['phase'], detail: string | null, t: Db = db): Promise<JournalEntry> =>
      inTx(t, async (t) => {
        // PostgreSQL: two writers to one operation's journal are serialised on its row, so neither
        // reads a stale max(seq) (the unique index would refuse it). SQLite's writer lock does this.
        if (engine === 'postgres') await t.selectFrom('operations').select('id').where('id', '=', operationId).forUpdate().execute();
        const last = await t
          .selectFrom('journal')
          .select((eb) => eb.fn.max<number>('seq').as('seq'))
          .where('operation_id', '=', operationId)
          .executeTakeFirst();
        return t
          .insertInto('journal')
          .values({ operation_id: operationId, seq: Number(last?.seq ?? 0) + 1, step, phase, detail, at: now() })
          .returningAll()
          .executeTakeFirstOrThrow();
      }),
    /**
     * Journals a step of operation `operationId` and marks the operation running at that step
     * (with `also`), all or nothing. On PostgreSQL it is one statement, one round trip where the
     * transaction took six: a worker runs hundreds of operations at once and each writes a dozen
     * steps. Its UPDATE locks the operation's row, as the transaction's did; a concurrent writer's
     * entry that took the same seq first makes the unique index refuse this one, which is then
     * written again with a fresh snapshot (read committed).
     */
    journalStep: async (operationId: number, step: Step, phase: JournalEntry['phase'], detail: string | null, also: JournalAlso = {}, owner?: string): Promise<JournalEntry> =>
      (await store.journalSteps(operationId, [{ step, phase, detail }], also, owner))[0]!,
    /**
     * Journals several entries of operation `operationId` at once (a step's `done` and the next
     * step's `begin`, with nothing acting between them), in seq order, and marks the operation
     * running at the last one's step: all or nothing, as journalStep, in one statement on PostgreSQL.
     */
    journalSteps: async (operationId: number, entries: readonly JournalWrite[], also: JournalAlso = {}, owner?: string): Promise<JournalEntry[]> => {
      const step = entries.at(-1)!.step;
      if (engine !== 'postgres') {
        return db.transaction().execute(async (t) => {
          // Only while `owner` holds the operation: one whose lease was taken over writes nothing.
          if (owner !== undefined) await store.fence(operationId, owner, t);
          const out: JournalEntry[] = [];
          for (const e of entries) out.push(await store.journal(operationId, e.step, e.phase, e.detail, t));
          await store.updateOperation(operationId, { step, status: 'running', ...also }, t);
          return out;
        });
      }
      const prior = sql.join(
        [...('prior_state' in also ? [sql`, prior_state = ${also.prior_state ?? null}`] : []), ...(also.from_type !== undefined ? [sql`, from_type = ${also.from_type}`] : [])],
        sql``,
      );
      const values = sql.join(entries.map((e, i) => sql`(${sql.lit(i + 1)}, ${e.step}::text, ${e.phase}::text, ${e.detail}::text)`));
      for (let attempt = 1; ; attempt++) {
        const at = now();
        try {
          const { rows } = await sql<JournalEntry>`
            with op as (update operations set step = ${step}, status = 'running', updated_at = ${at}${prior} where id = ${operationId}${owner === undefined ? sql`` : sql` and owner = ${owner}`} returning id)
            insert into journal (operation_id, seq, step, phase, detail, at)
            select op.id, coalesce((select max(seq) from journal where operation_id = ${operationId}), 0) + v.n, v.step, v.phase, v.detail, ${at}
            from op, (values ${values}) as v(n, step, phase, detail)
            returning *`.execute(db);
          if (rows.length === 0) throw owner !== undefined && (await store.getOperation(operationId)) !== undefined ? new LeaseLost(operationId) : new Error(`operation ${operationId} not found`);
          return rows.sort((a, b) => a.seq - b.seq);
        } catch (err) {
          if (attempt < 5 && isUniqueViolation(err)) continue;
          throw err;
        }
      }
    },
    journalOf: async (operationId: number): Promise<JournalEntry[]> =>
      db.selectFrom('journal').selectAll().where('operation_id', '=', operationId).orderBy('seq').execute(),

    // tokens
    /** Creates a token (expiring at `expiresAt`, ISO 8601, or never) and returns its secret (only its hash is stored). */
    addToken: async (role: 'operator' | 'customer', owner: string | null, expiresAt: string | null = null): Promise<string> => {
      const secret = `pvh_${randomBytes(24).toString('base64url')}`;
      await db
        .insertInto('tokens')
        .values({ sha256: sha256(new TextEncoder().encode(secret)), role, owner, created_at: now(), expires_at: expiresAt, revoked_at: null })
        .execute();
      return secret;
    },
    /** Every token, revoked and expired ones included (never the secret: it is not stored). */
    listTokens: async (): Promise<Omit<Token, 'sha256'>[]> =>
      db.selectFrom('tokens').select(['id', 'role', 'owner', 'created_at', 'expires_at', 'revoked_at']).orderBy('id').execute(),
    /** Revokes token `id`; false when there is no such token or it was already revoked. */
    revokeToken: async (id: number): Promise<boolean> => {
      const r = await db.updateTable('tokens').set({ revoked_at: now() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    tokenFor: async (secret: string): Promise<Token | undefined> =>
      db.selectFrom('tokens').selectAll().where('sha256', '=', sha256(new TextEncoder().encode(secret))).executeTakeFirst(),

    // audit
    audit: async (actor: string, action: string, target: string, detail: string | null = null, t: Db = db): Promise<void> => {
      await t.insertInto('audit').values({ at: now(), actor, action, target, detail }).execute();
    },
    listAudit: async (limit = 100): Promise<AuditEntry[]> =>
      db.selectFrom('audit').selectAll().orderBy('id', 'desc').limit(limit).execute(),
  };
  return store;
}

export type Store = ReturnType<typeof makeStore>;
