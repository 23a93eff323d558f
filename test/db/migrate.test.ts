import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { assertSchemaCurrent, migrate } from '../../src/db/migrate.js';
import { loadMigrations, orderMigrationNames } from '../../src/db/migration-files.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';

describe('migration files', () => {
  it('orders files by number and ignores other files', () => {
    expect(
      orderMigrationNames(['0010_b.sql', 'README', '0002_a.sql', '0003_x.sql.bak', '0001_c.sql']),
    ).toEqual([
      { number: 1, name: '0001_c.sql' },
      { number: 2, name: '0002_a.sql' },
      { number: 10, name: '0010_b.sql' },
    ]);
  });

  it('refuses two migrations with the same number', () => {
    expect(() => orderMigrationNames(['0002_a.sql', '0002_b.sql'])).toThrow(/share number 2/);
  });
});

describe('migrate against a real Postgres', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await freshDatabase({ migrated: false });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrates an empty database, then re-runs without applying anything', async () => {
    const files = await loadMigrations();
    const first = await migrate(db.pool);
    expect(first.applied).toEqual(files.map((f) => f.name));
    const tables = await db.pool.query<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(tables.rows.map((r) => r.t)).toEqual(
      expect.arrayContaining(['volumes', 'jobs', 'backups', 'events', 'schema_migrations']),
    );
    const second = await migrate(db.pool);
    expect(second.applied).toEqual([]);
    expect(second.changed).toEqual([]);
    const ledger = await db.pool.query('SELECT number FROM schema_migrations');
    expect(ledger.rowCount).toBe(files.length);
    await expect(assertSchemaCurrent(db.pool)).resolves.toBeUndefined();
  });

  it('serialises concurrent runners on the advisory lock', async () => {
    const other = await freshDatabase({ migrated: false });
    try {
      const results = await Promise.all([migrate(other.pool), migrate(other.pool)]);
      const names = results.flatMap((r) => r.applied);
      const files = await loadMigrations();
      // Every migration applied exactly once between the two runners.
      expect(names.sort()).toEqual(files.map((f) => f.name).sort());
    } finally {
      await other.drop();
    }
  });

  it('refuses a database that holds a migration the code does not know', async () => {
    await db.pool.query(
      `INSERT INTO schema_migrations (number, name, checksum) VALUES (9999, '9999_future.sql', 'x')`,
    );
    const err = await migrate(db.pool).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('SCHEMA_TOO_NEW');
    expect((err as AppError).message).toContain('9999_future.sql');
    await expect(assertSchemaCurrent(db.pool)).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' });
    await db.pool.query('DELETE FROM schema_migrations WHERE number = 9999');
  });

  it('reports an applied migration whose file was edited, without running it again', async () => {
    const files = await loadMigrations();
    const edited = files.map((f, i) => (i === 0 ? { ...f, checksum: 'edited' } : f));
    const result = await migrate(db.pool, { migrations: edited });
    expect(result).toMatchObject({ applied: [], changed: [files[0]?.name] });
  });

  it('tells a daemon to run migrate when migrations are missing', async () => {
    const files = await loadMigrations();
    const last = files[files.length - 1];
    expect(last).toBeDefined();
    await db.pool.query('DELETE FROM schema_migrations WHERE number = $1', [last?.number]);
    await expect(assertSchemaCurrent(db.pool)).rejects.toMatchObject({ code: 'SCHEMA_TOO_OLD' });
  });

  it('rolls a failing migration back together with its ledger row', async () => {
    const other = await freshDatabase({ migrated: false });
    try {
      const bad = [
        { number: 1, name: '0001_ok.sql', sql: 'CREATE TABLE a (x int)', checksum: 'a' },
        {
          number: 2,
          name: '0002_bad.sql',
          sql: 'CREATE TABLE b (x int); SELECT nope',
          checksum: 'b',
        },
      ];
      await expect(migrate(other.pool, { migrations: bad })).rejects.toThrow(/0002_bad.sql/);
      const ledger = await other.pool.query<{ number: number }>(
        'SELECT number FROM schema_migrations',
      );
      expect(ledger.rows.map((r) => r.number)).toEqual([1]);
      const b = await other.pool.query<{ t: string | null }>(`SELECT to_regclass('b')::text AS t`);
      expect(b.rows[0]?.t).toBeNull();
    } finally {
      await other.drop();
    }
  });
});
