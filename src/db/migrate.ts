/**
 * The migrations runner: numbered, forward-only .sql files applied in order under a
 * Postgres advisory lock, each in its own transaction together with its ledger row in
 * `schema_migrations`. A database that holds a migration this code does not know is newer
 * than the code: the runner and the daemons refuse to touch it (SCHEMA_TOO_NEW).
 */
import type pg from 'pg';
import { AppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { loadMigrations, type MigrationFile } from './migration-files.js';
import type { Queryable } from './queryable.js';

/** Advisory lock key: 'clbm' as a 32-bit number, so concurrent runners queue up. */
export const MIGRATION_LOCK_KEY = 0x636c626d;

const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  number integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

export interface MigrateResult {
  applied: string[];
  /** Applied migrations whose file changed since (they are never re-run: a bug to fix). */
  changed: string[];
  /** Highest migration number in the database afterwards. */
  current: number;
}

interface LedgerRow {
  number: number;
  name: string;
  checksum: string;
}

async function readLedger(q: Queryable): Promise<LedgerRow[]> {
  const exists = await q.query<{ t: string | null }>(
    `SELECT to_regclass('schema_migrations')::text AS t`,
  );
  if (exists.rows[0]?.t == null) return [];
  const res = await q.query<LedgerRow>(
    'SELECT number, name, checksum FROM schema_migrations ORDER BY number',
  );
  return res.rows;
}

/** Migrations in the database that this code does not have: the schema is newer. */
export function unknownMigrations(
  ledger: readonly LedgerRow[],
  known: readonly Pick<MigrationFile, 'number'>[],
): LedgerRow[] {
  const numbers = new Set(known.map((m) => m.number));
  return ledger.filter((row) => !numbers.has(row.number));
}

function tooNew(unknown: LedgerRow[]): AppError {
  return new AppError(
    'SCHEMA_TOO_NEW',
    `the database has migrations this code does not know (${unknown
      .map((r) => r.name)
      .join(', ')}); run a newer release`,
    { details: { unknown: unknown.map((r) => r.name) } },
  );
}

/**
 * Brings the database up to the code's schema. Safe to run from several processes at once
 * (they serialise on the advisory lock) and to re-run (applied migrations are skipped).
 */
export async function migrate(
  pool: pg.Pool,
  options: { logger?: Logger; migrations?: MigrationFile[] } = {},
): Promise<MigrateResult> {
  const logger = options.logger ?? silentLogger;
  const migrations = options.migrations ?? (await loadMigrations());
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query(LEDGER_DDL);
      const ledger = await readLedger(client);
      const unknown = unknownMigrations(ledger, migrations);
      if (unknown.length > 0) throw tooNew(unknown);
      const done = new Set(ledger.map((r) => r.number));
      const sums = new Map(ledger.map((r) => [r.number, r.checksum]));
      const changed = migrations
        .filter((m) => sums.has(m.number) && sums.get(m.number) !== m.checksum)
        .map((m) => m.name);
      if (changed.length > 0) {
        logger.warn({ changed }, 'applied migrations were edited afterwards; they are not re-run');
      }
      const applied: string[] = [];
      for (const m of migrations) {
        if (done.has(m.number)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (number, name, checksum) VALUES ($1, $2, $3)',
            [m.number, m.name, m.checksum],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new AppError('INTERNAL', `migration ${m.name} failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
        logger.info({ migration: m.name }, 'migration applied');
        applied.push(m.name);
      }
      const current = Math.max(0, ...migrations.map((m) => m.number), ...done);
      return { applied, changed, current };
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

/**
 * What a daemon calls before it starts: fails with SCHEMA_TOO_NEW when the database is
 * ahead of the code, and with SCHEMA_TOO_OLD when migrations are missing.
 */
export async function assertSchemaCurrent(
  q: Queryable,
  migrations?: MigrationFile[],
): Promise<void> {
  const known = migrations ?? (await loadMigrations());
  const ledger = await readLedger(q);
  const unknown = unknownMigrations(ledger, known);
  if (unknown.length > 0) throw tooNew(unknown);
  const done = new Set(ledger.map((r) => r.number));
  const missing = known.filter((m) => !done.has(m.number));
  if (missing.length > 0) {
    throw new AppError(
      'SCHEMA_TOO_OLD',
      `the database lacks migrations ${missing.map((m) => m.name).join(', ')}; run \`migrate\``,
    );
  }
}
