/**
 * Migration 0004: backup rows may be 'cancelled', and runs stopped before it (recorded as
 * failed with ABORTED) become cancelled, so they leave backup_failures; real failures stay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { loadMigrations } from '../../src/db/migration-files.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';
import { addVolume } from './volume-fixtures.js';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase({ migrated: false });
});
afterAll(async () => {
  await db?.drop();
});

describe('migration 0004 (cancelled backups)', () => {
  it('turns earlier ABORTED failures into cancelled rows and keeps real failures', async () => {
    const all = await loadMigrations();
    await migrate(db.pool, { migrations: all.filter((m) => m.number < 4) });
    const v = await addVolume(db.pool, 'mig4@lvm');
    const insert = (code: string): Promise<unknown> =>
      db.pool.query(
        `INSERT INTO backups (volume_id, reason, status, finished_at, error_code, error_message)
         VALUES ($1, 'test', 'failed', now(), $2, 'x')`,
        [v.id, code],
      );
    await insert('ABORTED');
    await insert('SNAPSHOT_OVERFLOW');
    await expect(
      db.pool.query(
        `INSERT INTO backups (volume_id, reason, status) VALUES ($1, 't', 'cancelled')`,
        [v.id],
      ),
    ).rejects.toThrow(/backups_status_check/);

    await migrate(db.pool, { migrations: all });
    const rows = await db.pool.query<{ status: string; error_code: string }>(
      'SELECT status, error_code FROM backups WHERE volume_id = $1 ORDER BY error_code',
      [v.id],
    );
    expect(rows.rows).toEqual([
      { status: 'cancelled', error_code: 'ABORTED' },
      { status: 'failed', error_code: 'SNAPSHOT_OVERFLOW' },
    ]);
    const failures = await db.pool.query<{ error_code: string }>(
      'SELECT error_code FROM backup_failures WHERE volume_id = $1',
      [v.id],
    );
    expect(failures.rows).toEqual([{ error_code: 'SNAPSHOT_OVERFLOW' }]);
    await expect(
      db.pool.query(`INSERT INTO backups (volume_id, reason, status) VALUES ($1, 't', 'bogus')`, [
        v.id,
      ]),
    ).rejects.toThrow(/backups_status_check/);
  });
});
