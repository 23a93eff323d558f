/**
 * Migration 0008: a backup row records the consistency level reached, the steps tried, why
 * the level fell short, the freeze window and the dump size; backup_history and
 * backup_status show them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordBackupSuccess, startBackup } from '../../src/db/backups.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';
import { addVolume } from './volume-fixtures.js';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('consistency columns', () => {
  it('records the level, steps, reason, freeze window and dump size, and the views show them', async () => {
    const vol = await addVolume(db.pool, 'n1@lvm', { name: 'mysql-data' });
    await db.pool.query(`UPDATE volumes SET policy = $2 WHERE id = $1`, [
      vol.id,
      JSON.stringify({ scheduleText: 'daily', retention: { daily: 7 } }),
    ]);
    const id = await startBackup(db.pool, {
      volumeId: vol.id,
      jobId: null,
      node: 'n1',
      reason: 'schedule',
    });
    await recordBackupSuccess(db.pool, id, {
      backupId: `b-${id}`,
      location: `/b/${id}`,
      manifestPath: `/b/${id}/manifest.json`,
      manifest: {},
      bytesRead: 100,
      bytesWritten: 50,
      throughputBytesPerS: 1,
      archives: [],
      consistency: 'filesystem',
      snapshotPeakPercent: 1,
      consistencyLevel: 'filesystem',
      consistencyDemanded: 'crash',
      consistencySteps: [
        { step: 'mysqldump', ok: false, code: 'SSH_AUTH_FAILED', reason: 'refused', durationMs: 5 },
        { step: 'fsfreeze', ok: true, durationMs: 300 },
      ],
      consistencyReason: 'mysqldump: SSH_AUTH_FAILED: refused',
      freezeWindowMs: 240,
      dumpBytes: null,
    });
    const h = await db.pool.query(
      `SELECT consistency_level, consistency_demanded, consistency_steps, consistency_reason,
              freeze_window_ms, dump_bytes FROM backup_history WHERE id = $1`,
      [id],
    );
    expect(h.rows[0]).toEqual({
      consistency_level: 'filesystem',
      consistency_demanded: 'crash',
      consistency_steps: 'mysqldump:SSH_AUTH_FAILED,fsfreeze:ok',
      consistency_reason: 'mysqldump: SSH_AUTH_FAILED: refused',
      freeze_window_ms: 240,
      dump_bytes: null,
    });
    const s = await db.pool.query(
      `SELECT last_consistency, last_consistency_reason, last_freeze_window_ms FROM backup_status WHERE volume_id = $1`,
      [vol.id],
    );
    expect(s.rows[0]).toEqual({
      last_consistency: 'filesystem',
      last_consistency_reason: 'mysqldump: SSH_AUTH_FAILED: refused',
      last_freeze_window_ms: 240,
    });
    await expect(
      db.pool.query(`UPDATE backups SET consistency_level = 'total' WHERE id = $1`, [id]),
    ).rejects.toThrow(/check constraint/);
  });
});
