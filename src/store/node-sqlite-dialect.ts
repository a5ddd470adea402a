/**
 * A Kysely dialect for Node's built-in `node:sqlite` (DatabaseSync): Kysely's own SQLite adapter,
 * query compiler and introspector, with a driver of ours. Kysely's bundled SqliteDriver expects
 * better-sqlite3's `stmt.reader` and hands the one connection to every caller at once, so two
 * concurrent transactions would interleave; this driver serialises connection use instead.
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import {
  CompiledQuery,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

/** node:sqlite binds numbers, bigints, strings, null and bytes; booleans become 0/1, undefined null. */
function bindable(v: unknown): SQLInputValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || v instanceof Uint8Array) return v;
  if (v instanceof Date) return v.toISOString();
  throw new TypeError(`node:sqlite cannot bind a ${typeof v}`);
}

class NodeSqliteConnection implements DatabaseConnection {
  readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.db.prepare(compiled.sql);
    const params = compiled.parameters.map(bindable);
    // A statement that returns columns (SELECT, or anything with RETURNING) is read with all().
    if (stmt.columns().length > 0) return { rows: stmt.all(...params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(...params);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiled.query)) throw new Error('node:sqlite streams only SELECT queries');
    const stmt = this.db.prepare(compiled.sql);
    for (const row of stmt.iterate(...compiled.parameters.map(bindable))) yield { rows: [row as R] };
  }
}

/** The driver: one DatabaseSync, lent to one caller (query or transaction) at a time. */
class NodeSqliteDriver implements Driver {
  readonly #open: () => DatabaseSync;
  #connection: NodeSqliteConnection | undefined;
  #queue: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;

  constructor(open: () => DatabaseSync) {
    this.#open = open;
  }

  async init(): Promise<void> {
    this.#connection = new NodeSqliteConnection(this.#open());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#release = release;
    if (this.#connection === undefined) throw new Error('node:sqlite driver used before init');
    return this.#connection;
  }

  async beginTransaction(c: DatabaseConnection): Promise<void> {
    // IMMEDIATE takes the write lock now, so a second process (a CLI beside `serve`) waits on
    // busy_timeout instead of failing half-way through the transaction.
    await c.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  async commitTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
  async destroy(): Promise<void> {
    this.#connection?.db.close();
    this.#connection = undefined;
  }
}

/**
 * The dialect for `new Kysely({ dialect })`. `open` is called once, on first use.
 * @example
 * const db = new Kysely<Tables>({ dialect: nodeSqliteDialect(() => new DatabaseSync(':memory:')) });
 * await db.selectFrom('hosts').selectAll().execute() // => []
 */
export function nodeSqliteDialect(open: () => DatabaseSync): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new NodeSqliteDriver(open),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (db: Kysely<any>) => new SqliteIntrospector(db),
  };
}
