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
import { Kysely, type Transaction } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import { migrations } from './migrations.ts';
import { nodeSqliteDialect } from './node-sqlite-dialect.ts';
import type {
  AuditEntry,
  ConfigVersion,
  Guest,
  GuestType,
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

/** This process, as recorded in operations.owner. */
export const OWNER = `${hostname()}:${process.pid}`;

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
  // The fleet's migrations (00xx) and the shell's (09xx) are numbered apart, so a new fleet
  // migration sorts before shell ones a store has already applied.
  const { error, results } = await new Migrator({ db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Opens (creating if needed) the SQLite store in `dataDir`, or an in-memory one for `:memory:`,
 * and brings its schema up to date.
 * @example
 * const store = await openStore(':memory:');
 * await store.listHosts() // => []
 */
export async function openStore(dataDir: string): Promise<Store> {
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

export type GuestFilter = { hostId?: number; owner?: string; health?: Guest['health']; limit?: number; offset?: number };

/** Builds the typed query functions over an open Kysely instance. */
export function makeStore(db: Kysely<Tables>, path: string) {
  return {
    db,
    path,
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
      o: Pick<Operation, 'guest_id' | 'kind' | 'from_type' | 'to_type' | 'force' | 'requested_by'>,
      t: Db = db,
    ): Promise<Operation> =>
      t
        .insertInto('operations')
        .values({ ...o, status: 'pending', step: 'created', owner: OWNER, created_at: now(), updated_at: now() })
        .returningAll()
        .executeTakeFirstOrThrow(),
    updateOperation: async (id: number, u: Partial<Omit<Operation, 'id'>>, t: Db = db): Promise<void> => {
      await t.updateTable('operations').set({ ...u, updated_at: now() }).where('id', '=', id).execute();
    },
    getOperation: async (id: number): Promise<Operation | undefined> =>
      db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst(),
    listOperations: async (f: { guestId?: number; status?: OperationStatus[]; limit?: number } = {}): Promise<Operation[]> => {
      let q = db.selectFrom('operations').selectAll();
      if (f.guestId !== undefined) q = q.where('guest_id', '=', f.guestId);
      if (f.status !== undefined && f.status.length > 0) q = q.where('status', 'in', f.status);
      return q.orderBy('id', 'desc').limit(f.limit ?? 1000).execute();
    },
    /** Operations a crash may have left half-done. */
    unfinishedOperations: async (): Promise<Operation[]> =>
      db.selectFrom('operations').selectAll().where('status', 'in', ['pending', 'running']).orderBy('id').execute(),
    /** Appends one journal entry; `seq` numbers the entries of one operation from 1. */
    journal: async (operationId: number, step: string, phase: JournalEntry['phase'], detail: string | null, t: Db = db): Promise<JournalEntry> => {
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
    },
    journalOf: async (operationId: number): Promise<JournalEntry[]> =>
      db.selectFrom('journal').selectAll().where('operation_id', '=', operationId).orderBy('seq').execute(),

    // tokens
    /** Creates a token and returns its secret (only its hash is stored). */
    addToken: async (role: 'operator' | 'customer', owner: string | null): Promise<string> => {
      const secret = `pvh_${randomBytes(24).toString('base64url')}`;
      await db.insertInto('tokens').values({ sha256: sha256(new TextEncoder().encode(secret)), role, owner, created_at: now() }).execute();
      return secret;
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
}

export type Store = ReturnType<typeof makeStore>;
