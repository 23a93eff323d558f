/**
 * The per-project quota checked atomically with the enqueue of event-triggered backups,
 * against a real Postgres with two connections handling one event each at the same time
 * (as two controllers, or the consumer and the hint confirmer, do): a project just under
 * its quota gets one of the two backups, not both; the second waits on the project's lock
 * and counts the first one's expected bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsOf } from '../../src/config/settings.js';
import { projectQuotaOf } from '../../src/controller/controller-config.js';
import { enqueueEventBackup, type EventBackupResult } from '../../src/jobs/enqueue-backup.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { volumeWithStoredBackup } from '../db/volume-fixtures.js';

let db: FreshDatabase;
const quota = projectQuotaOf(settingsOf({ CLB_MAX_PROJECT_BYTES: '1000' }));
const settings = {
  limits: DEFAULT_POLICY_LIMITS,
  timeZone: 'UTC',
  retryAfterSeconds: 3600,
  quota,
};

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** A due volume of `projectId` holding one backup of `bytes` (test/db/volume-fixtures.ts). */
const volume = (projectId: string, bytes: number): Promise<string> =>
  volumeWithStoredBackup(db.pool, projectId, bytes, false);

const detach = (now: Date) => ({ trigger: 'detach' as const, eventAt: now, maxAgeSeconds: 3600 });

describe('event-triggered backups under a project quota', () => {
  it('let only one of two concurrent events through when only one fits', async () => {
    // 900 of 1000 bytes stored: under the quota, so each event alone would pass.
    const x = await volume('race', 600);
    const y = await volume('race', 300);
    const one = await db.pool.connect();
    const two = await db.pool.connect();
    try {
      const now = new Date();
      await one.query('BEGIN');
      await two.query('BEGIN');
      const first = await enqueueEventBackup(
        one,
        x,
        'volume.detach.end',
        detach(now),
        now,
        settings,
      );
      expect(first.job).not.toBeNull();
      // The second starts while the first has not committed: it must wait for the lock.
      const pid = Number(
        (await two.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid,
      );
      const secondP: Promise<EventBackupResult> = enqueueEventBackup(
        two,
        y,
        'volume.detach.end',
        detach(now),
        now,
        settings,
      );
      let waited = false;
      for (let i = 0; i < 50 && !waited; i += 1) {
        const r = await db.pool.query<{ wait: string | null }>(
          'SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1',
          [pid],
        );
        waited = r.rows[0]?.wait === 'Lock';
        if (!waited) await new Promise((res) => setTimeout(res, 20));
      }
      expect(waited).toBe(true);
      await one.query('COMMIT');
      const second = await secondP;
      await two.query('COMMIT');
      expect(second.job).toBeNull();
      expect(second.job === null ? second.reason : '').toMatch(
        /^project race stores 1500 bytes .* at or over its quota of 1000 bytes.*; counted with 600 bytes its open backup jobs are expected to store$/,
      );
    } finally {
      await one.query('ROLLBACK').catch(() => undefined);
      await two.query('ROLLBACK').catch(() => undefined);
      one.release();
      two.release();
    }
    const jobs = await db.pool.query<{ volume_id: string }>(
      `SELECT volume_id::text AS volume_id FROM jobs
        WHERE kind = 'backup' AND state IN ('queued', 'running') AND volume_id = ANY($1::uuid[])`,
      [[x, y]],
    );
    expect(jobs.rows.map((r) => r.volume_id)).toEqual([x]);
  });

  it('still lets a project under its quota with room for both run both', async () => {
    const x = await volume('roomy', 100);
    const y = await volume('roomy', 100);
    const now = new Date();
    const a = await enqueueEventBackup(db.pool, x, 'volume.detach.end', detach(now), now, settings);
    const b = await enqueueEventBackup(db.pool, y, 'volume.detach.end', detach(now), now, settings);
    expect([a.job?.volumeId, b.job?.volumeId]).toEqual([x, y]);
  });
});
