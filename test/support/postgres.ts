/**
 * A throwaway PostgreSQL cluster for tests: Debian 12's server binaries (`postgresql` package),
 * `initdb` in a temporary directory as an unprivileged user, listening only on a Unix socket in
 * that directory. One cluster per test process (node --test runs each file in its own process);
 * every test gets its own database in it. The cluster is stopped and its directory removed when
 * the process exits.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian 12 puts the server binaries (not on PATH). */
export const PG_BIN = process.env.PVHCTL_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A running cluster: `newDatabase()` gives the URL of a fresh, empty database. */
export type PgCluster = { dir: string; socketDir: string; newDatabase(): Promise<string>; url(db: string): string };

/** The uid/gid the server runs as when the tests run as root (initdb refuses root). */
const NOBODY = { uid: 65534, gid: 65534 };

function run(cmd: string, args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  const full = asRoot ? ['setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', cmd, ...args]] as const : [cmd, args] as const;
  const r = spawnSync(full[0], [...full[1]], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${(r.stderr || r.stdout).slice(-2000)}`);
  return r.stdout;
}

let cluster: Promise<PgCluster> | null = null;
let counter = 0;

/** Whether this machine has the PostgreSQL server binaries (scripts/apt-packages.txt installs them). */
export const havePostgres = (): boolean => existsSync(join(PG_BIN, 'initdb'));

/**
 * Starts this process's cluster on first call; later calls return the same one.
 * @example
 * const url = await (await postgres()).newDatabase(); // 'postgresql://postgres@/t1?host=/tmp/pvhctl-pg-x1y2'
 */
export function postgres(): Promise<PgCluster> {
  cluster ??= start();
  return cluster;
}

async function start(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, NOBODY.uid, NOBODY.gid);
  const data = join(dir, 'data');
  const stop = () => {
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        run(join(PG_BIN, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']);
      } catch {
        // The server is gone already; the directory is still removed below.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  // fsync off: a test cluster is thrown away; durability across a *client* kill -9 (what the crash
  // tests exercise) does not depend on it. No TCP: the socket directory is private to this test.
  // PVHCTL_PG_STATEMENTS=1 (bench/fleet.ts) loads pg_stat_statements, to count what each switch asks.
  const statements = process.env.PVHCTL_PG_STATEMENTS === '1' ? ['-c shared_preload_libraries=pg_stat_statements', '-c pg_stat_statements.track=all'] : [];
  const opts = [`-k ${dir}`, "-c listen_addresses=''", '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=400', '-c shared_buffers=32MB', ...statements].join(' ');
  run(join(PG_BIN, 'pg_ctl'), ['start', '-D', data, '-w', '-t', '120', '-l', join(dir, 'server.log'), '-o', opts]);
  const url = (db: string) => `postgresql://postgres@/${db}?host=${encodeURIComponent(dir)}`;
  return {
    dir,
    socketDir: dir,
    url,
    async newDatabase() {
      const name = `t${process.pid}_${++counter}`;
      run(join(PG_BIN, 'psql'), ['-h', dir, '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`]);
      return url(name);
    },
  };
}
