/**
 * Versioned schema migrations, written with Kysely's schema builder so they run unchanged on
 * SQLite and PostgreSQL. Append a new entry for every change; never edit a released one.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { campaignsMigration } from './campaigns.ts';
import { customerKeysMigration } from './customer-keys.ts';
import { rehearsalMemoryMigration, rehearsalsMigration } from './rehearsals.ts';
import { mailMigrations } from '../notify/mail-schema.ts';
import { bytesType, idColumn } from './portable.ts';

export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('hosts')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('transport', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text')
        .addColumn('key_path', 'text')
        .addColumn('config_dir', 'text', (c) => c.notNull())
        .addColumn('xen_version', 'text')
        .addColumn('xen_caps', 'text')
        .addColumn('virt_caps', 'text')
        .addColumn('role', 'text', (c) => c.notNull().defaultTo('pv-pvh'))
        .addColumn('max_parallel', 'integer', (c) => c.notNull().defaultTo(2))
        .addColumn('sim_spec', 'text')
        .addColumn('last_seen', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('guests')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
        .addColumn('owner', 'text')
        .addColumn('config_path', 'text', (c) => c.notNull())
        .addColumn('current_type', 'text', (c) => c.notNull())
        .addColumn('arch', 'text')
        .addColumn('verdict', 'text')
        .addColumn('verdict_at', 'text')
        .addColumn('health', 'text', (c) => c.notNull().defaultTo('ok'))
        .addColumn('attention', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('guests_host_name', ['host_id', 'name'])
        .execute();
      await db.schema.createIndex('guests_owner').on('guests').column('owner').execute();
      await db.schema
        .createTable('config_versions')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('guest_id', 'integer', (c) => c.notNull().references('guests.id').onDelete('cascade'))
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('content', bytesType(db), (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('operation_id', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('config_versions_guest').on('config_versions').column('guest_id').execute();
      await db.schema
        .createTable('operations')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('guest_id', 'integer', (c) => c.notNull().references('guests.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('from_type', 'text', (c) => c.notNull())
        .addColumn('to_type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('force', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('kept_version_id', 'integer')
        .addColumn('new_version_id', 'integer')
        .addColumn('reason', 'text')
        .addColumn('detail', 'text')
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('operations_status').on('operations').column('status').execute();
      await db.schema.createIndex('operations_guest').on('operations').column('guest_id').execute();
      await db.schema
        .createTable('journal')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('operation_id', 'integer', (c) => c.notNull().references('operations.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('journal_operation').on('journal').columns(['operation_id', 'seq']).execute();
      await db.schema
        .createTable('audit')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['audit', 'journal', 'operations', 'config_versions', 'guests', 'hosts']) {
        await db.schema.dropTable(t).execute();
      }
    },
  },
  '0002_tokens': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'integer', idColumn(db))
        .addColumn('sha256', 'text', (c) => c.notNull().unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('owner', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('tokens').execute();
    },
  },
  '0003_stopped_guests_and_host_keys': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('was_running', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      await db.schema.alterTable('hosts').addColumn('host_key', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('operations').dropColumn('was_running').execute();
      await db.schema.alterTable('hosts').dropColumn('host_key').execute();
    },
  },
  '0004_operation_owner': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('owner', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('operations').dropColumn('owner').execute();
    },
  },
  '0005_token_lifetime': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tokens').addColumn('expires_at', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('revoked_at', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('tokens').dropColumn('expires_at').execute();
      await db.schema.alterTable('tokens').dropColumn('revoked_at').execute();
    },
  },
  '0006_guest_run_state': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('guests').addColumn('run_state', 'text').execute();
      await db.schema.alterTable('guests').addColumn('run_state_at', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('guests').dropColumn('run_state').execute();
      await db.schema.alterTable('guests').dropColumn('run_state_at').execute();
    },
  },
  // Several processes on one PostgreSQL: two writers must never give one operation the same journal
  // number, and two requests must never start two operations on one guest (the busy check alone
  // races between processes). Numbered apart from the other fleet migrations (0005...) so that
  // branches adding those never collide with these.
  '0500_journal_seq_unique_and_one_operation_per_guest': {
    async up(db: Kysely<any>) {
      await db.schema.dropIndex('journal_operation').execute();
      await db.schema.createIndex('journal_operation_seq').on('journal').columns(['operation_id', 'seq']).unique().execute();
      await db.schema
        .createIndex('operations_one_unfinished_per_guest')
        .on('operations')
        .column('guest_id')
        .unique()
        .where(sql.ref('status'), 'in', sql`('pending', 'running')`)
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropIndex('operations_one_unfinished_per_guest').execute();
      await db.schema.dropIndex('journal_operation_seq').execute();
      await db.schema.createIndex('journal_operation').on('journal').columns(['operation_id', 'seq']).execute();
    },
  },
  // Leases: an operation's owner renews lease_until while it works; another process takes the
  // operation over once the lease has run out (its owner died or lost the database).
  '0501_operation_leases': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('lease_until', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('operations').dropColumn('lease_until').execute();
    },
  },
  // A guest's run state before a switch, recorded with the switch's first journal entry; NULL
  // when it is not known (a crash before that entry), and a rollback then boots nothing. It
  // replaces was_running, which defaulted to 1 and made recovery start guests that were stopped.
  '0005_prior_state': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('prior_state', 'text').execute();
      // Finished operations keep what they recorded; an unfinished one only if its pre-check
      // finished (was_running was written just before that entry).
      await sql`UPDATE operations SET prior_state = CASE WHEN was_running = 1 THEN 'running' ELSE 'stopped' END
        WHERE status NOT IN ('pending', 'running') OR kind = 'rollback'
           OR EXISTS (SELECT 1 FROM journal j WHERE j.operation_id = operations.id AND j.step = 'pre-check' AND j.phase = 'done')`.execute(db);
      await db.schema.alterTable('operations').dropColumn('was_running').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('was_running', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      await sql`UPDATE operations SET was_running = CASE WHEN prior_state = 'running' THEN 1 ELSE 0 END`.execute(db);
      await db.schema.alterTable('operations').dropColumn('prior_state').execute();
    },
  },
  // The operator's populate-on-demand choice for a switch (src/xlcfg/rewrite.ts PodChoice), kept
  // with the operation so that a worker on another machine, or a resume after a crash, rewrites
  // the config as the operator asked; NULL: no choice given (refuse).
  '0510_operation_pod': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('pod', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('operations').dropColumn('pod').execute();
    },
  },
  // The stored verdict gets a version (src/fleet/stored-verdict.ts): version 2 keeps the disk
  // inspection's whole verdict. Rows of version 1 (the flattened booleans, no `version` field)
  // become version 2 with `inspection: null`, which is what they knew. Plain text concatenation,
  // not a JSON function, so that the same statement runs on SQLite and PostgreSQL.
  '0520_verdict_version': {
    async up(db: Kysely<any>) {
      await sql`UPDATE guests SET verdict = '{"version":2,"inspection":null,' || substr(verdict, 2)
        WHERE verdict LIKE '{"%' AND verdict NOT LIKE '{"version":%'`.execute(db);
    },
    async down(db: Kysely<any>) {
      // Version 1 readers ignore fields they do not know; only the version must go.
      await sql`UPDATE guests SET verdict = '{' || substr(verdict, length('{"version":2,') + 1)
        WHERE verdict LIKE '{"version":2,%'`.execute(db);
    },
  },
  // The simulator's shape moves from its own column into the sim host's endpoint (read only by
  // the driver table, src/drivers/open.ts), so that the product's schema carries no simulator
  // column; a demo's hosts keep their shape.
  '0530_sim_spec_in_endpoint': {
    async up(db: Kysely<any>) {
      await sql`UPDATE hosts SET endpoint = sim_spec WHERE transport = 'sim' AND sim_spec IS NOT NULL`.execute(db);
      await db.schema.alterTable('hosts').dropColumn('sim_spec').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('hosts').addColumn('sim_spec', 'text').execute();
      await sql`UPDATE hosts SET sim_spec = endpoint, endpoint = NULL WHERE transport = 'sim'`.execute(db);
    },
  },
  // A refusal kept as its code and parameters (src/fleet/reasons.ts), worded when it is shown;
  // rows from before keep their prose in `reason` and NULL here, and still read.
  '0800_operation_reason_code': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('operations').addColumn('reason_code', 'text').execute();
      await db.schema.alterTable('operations').addColumn('reason_params', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('operations').dropColumn('reason_params').execute();
      await db.schema.alterTable('operations').dropColumn('reason_code').execute();
    },
  },
  // Outcomes kept as codes too (src/fleet/outcomes.ts). Rows from before whose outcome follows
  // from their own columns get their code: a switch done, a power action done, an asked-for
  // rollback done (their prose was fixed words). A rolled-back switch or a guest needing attention
  // had its cause only in prose (which check failed, which xl error): those keep their prose and
  // NULL code, and still read as they did.
  '0970_operation_outcome_codes': {
    async up(db: Kysely<any>) {
      // The types and kinds are pvhctl's own fixed words, safe inside a JSON string literal.
      await sql`UPDATE operations SET reason_code = 'switched', reason_params = '{"from":"' || from_type || '","to":"' || to_type || '"}'
        WHERE reason_code IS NULL AND kind = 'switch' AND status = 'done'`.execute(db);
      await sql`UPDATE operations SET reason_code = 'powered', reason_params = '{"action":"' || kind || '"}'
        WHERE reason_code IS NULL AND kind IN ('boot', 'shutdown', 'reboot') AND status = 'done'`.execute(db);
      // Who asked is any text: JSON-encoded here, not in SQL.
      const undone = await db.selectFrom('operations').select(['id', 'from_type', 'requested_by']).where('reason_code', 'is', null).where('kind', '=', 'rollback').where('status', '=', 'rolled-back').execute();
      for (const o of undone) {
        await db.updateTable('operations').set({ reason_code: 'undone', reason_params: JSON.stringify({ from: o.from_type, by: o.requested_by }) }).where('id', '=', o.id).execute();
      }
    },
    async down(db: Kysely<any>) {
      // Readers from before know refusal codes only; the prose beside every code still reads.
      await sql`UPDATE operations SET reason_code = NULL, reason_params = NULL
        WHERE reason_code IN ('switched', 'rolling-back', 'rolled-back', 'undone', 'rollback-failed', 'powered', 'reboot-left-down')`.execute(db);
    },
  },
  // The machine a `local` host's xl runs on (src/drivers/machine.ts): with several processes on
  // one PostgreSQL, a process elsewhere must not run its own xl for it. Hosts added before keep
  // NULL (not known: driven from anywhere, as before).
  '0990_local_host_machine': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('hosts').addColumn('machine', 'text').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.alterTable('hosts').dropColumn('machine').execute();
    },
  },
  // The Xen Shell's customer keys (src/store/customer-keys.ts), numbered apart from the fleet's.
  '0600_campaigns': campaignsMigration,
  '0900_customer_keys': customerKeysMigration,
  // Rehearsals (src/store/rehearsals.ts), numbered apart from the fleet's and the shell's.
  '0950_rehearsals': rehearsalsMigration,
  '0951_rehearsal_memory': rehearsalMemoryMigration,
  // Customer mail (src/notify/mail-schema.ts): owners' addresses, the mails sent, the link key.
  ...mailMigrations,
};
