/**
 * The per-project byte quota against a real Postgres: a project at or over its quota gets
 * no scheduled or event-triggered backups, each of its volumes shows why (backup_status,
 * the API's representation, "back up now" refused for non-admins), its backups are kept,
 * and a raised quota lets the next pass run them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putVolume } from '../db/volume-fixtures.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { requestBackup } from '../../src/api/job-requests.js';
import { volumeJson } from '../../src/api/representations.js';
import { settingsOf } from '../../src/config/settings.js';
import { projectQuotaOf } from '../../src/controller/controller-config.js';
import { getVolume, getVolumeStatus } from '../../src/db/volumes.js';
import { enqueueEventBackup } from '../../src/jobs/enqueue-backup.js';
import { runSchedulerPass } from '../../src/jobs/scheduler.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { AppError } from '../../src/errors.js';

let db: FreshDatabase;
const base = { limits: DEFAULT_POLICY_LIMITS, timeZone: 'UTC', retryAfterSeconds: 3600 };
/** The quota as an operator writes it: 1000 bytes for every project. */
const quota = projectQuotaOf(settingsOf({ CLB_MAX_PROJECT_BYTES: '1000' }));
const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function volume(projectId: string, metadata: Record<string, string>): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    name: `v-${id.slice(0, 6)}`,
    projectId,
    status: 'available',
    sizeGb: 1,
    host: 'stor1@lvm#LVM',
    lvName: `volume-${id}`,
    metadata,
  });
  return id;
}

async function backup(
  volumeId: string,
  bytes: number,
  status: 'succeeded' | 'failed' = 'succeeded',
  pruned = false,
): Promise<void> {
  await db.pool.query(
    `INSERT INTO backups (volume_id, status, reason, started_at, finished_at, bytes_written,
                          pruned_at, manifest_path)
     VALUES ($1, $2, 'schedule', $3, $3, $4, $5, '/b/manifest.json')`,
    [volumeId, status, twoDaysAgo, bytes, pruned ? new Date() : null],
  );
}

async function jobsOf(id: string): Promise<string[]> {
  const r = await db.pool.query<{ reason: string }>(
    `SELECT reason FROM jobs
      WHERE volume_id = $1 AND kind = 'backup' AND state IN ('queued', 'running') ORDER BY id`,
    [id],
  );
  return r.rows.map((x) => x.reason);
}

async function keptBackups(): Promise<number> {
  const r = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM backups WHERE status = 'succeeded' AND pruned_at IS NULL`,
  );
  return Number(r.rows[0]?.n);
}

describe('per-project byte quota', () => {
  let a1: string;
  let a2: string;
  let b1: string;

  beforeAll(async () => {
    // Project qa stores 600 + 500 (a deleted volume's backup still occupies its bytes) =
    // 1100 bytes; a pruned backup and a failed run count for nothing.
    a1 = await volume('qa', { backup: 'daily', 'backup:on': 'detach' });
    a2 = await volume('qa', { backup: 'daily', 'backup:on': 'detach' });
    const gone = await volume('qa', { backup: 'daily' });
    await backup(a1, 600);
    await backup(a1, 10 ** 9, 'succeeded', true);
    await backup(a2, 10 ** 9, 'failed');
    await backup(gone, 500);
    await db.pool.query(`UPDATE volumes SET deleted_at = now() WHERE id = $1`, [gone]);
    // Project qb stores 100 bytes.
    b1 = await volume('qb', { backup: 'daily' });
    await backup(b1, 100);
  });

  it('runs no backup of an over-quota project, records why on each volume, keeps its backups', async () => {
    const kept = await keptBackups();
    const pass = await runSchedulerPass(db.pool, { ...base, quota });
    expect(pass.overQuota).toBe(2);
    expect(await jobsOf(a1)).toEqual([]);
    expect(await jobsOf(a2)).toEqual([]);
    expect(await jobsOf(b1)).toEqual(['schedule']);
    expect(await keptBackups()).toBe(kept);

    const status = await db.pool.query<{
      volume_id: string;
      quota_error: string | null;
      policy: string | null;
      next_due_at: Date | null;
    }>(`SELECT volume_id, quota_error, policy, next_due_at FROM backup_status`);
    const byId = new Map(status.rows.map((r) => [r.volume_id, r]));
    for (const id of [a1, a2]) {
      const r = byId.get(id);
      expect(r?.quota_error).toBe(
        'project qa stores 1100 bytes (1.1 KiB) of backups, at or over its quota of 1000 bytes (1000 B); no new backups until it is below (existing backups are kept)',
      );
      // The policy stays: the volume is still tagged, only held back.
      expect(r?.policy).toBe('daily; keep daily=7 weekly=4 monthly=6');
      expect(r?.next_due_at).toBeInstanceOf(Date);
    }
    expect(byId.get(b1)?.quota_error).toBeNull();

    const usage = await db.pool.query<{ project_id: string; bytes_stored: string }>(
      `SELECT project_id, bytes_stored FROM project_usage ORDER BY project_id`,
    );
    expect(usage.rows).toEqual([
      { project_id: 'qa', bytes_stored: '1100' },
      { project_id: 'qb', bytes_stored: '100' },
    ]);
  });

  it('shows the reason in the API and refuses back up now, except to an admin', async () => {
    const s = await getVolumeStatus(db.pool, a1, 600);
    expect(s).not.toBeNull();
    const json = volumeJson(s!, false);
    expect(json['quota_error']).toMatch(/^project qa stores 1100 bytes/);
    expect(json['policy_error']).toBeNull();

    const v = await getVolume(db.pool, a1);
    const refused = await requestBackup(db.pool, v!, 'tenant', {
      minIntervalSeconds: 3600,
      quota,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('QUOTA_EXCEEDED');
    expect((refused as AppError).message).toMatch(/at or over its quota of 1000 bytes/);
    expect(await jobsOf(a1)).toEqual([]);

    // The operator (admin role: no minimum interval) may still ask for one.
    const admin = await requestBackup(db.pool, v!, 'operator', { minIntervalSeconds: null, quota });
    expect(admin.created).toBe(true);
    expect(await jobsOf(a1)).toEqual(['manual']);
    await db.pool.query(`UPDATE jobs SET state = 'cancelled' WHERE id = $1`, [admin.job.id]);
  });

  it('lets no event trigger a backup while over quota', async () => {
    const now = new Date();
    const r = await enqueueEventBackup(
      db.pool,
      a2,
      'volume.detach.end',
      { trigger: 'detach', eventAt: now, maxAgeSeconds: 3600 },
      now,
      { ...base, quota },
    );
    expect(r.job).toBeNull();
    expect(r.job === null ? r.reason : '').toMatch(/project qa stores 1100 bytes/);
    expect(await jobsOf(a2)).toEqual([]);
  });

  it("runs them again once the project's own quota is raised above what it stores", async () => {
    // Room for both: the first one enqueued counts with what it is expected to store (a1's
    // last backup, 10^9 bytes; a2's size, 1 GiB) before the second is let through.
    const raised = projectQuotaOf(
      settingsOf({ CLB_MAX_PROJECT_BYTES: '1000', CLB_PROJECT_QUOTAS: 'qa=2G' }),
    );
    expect(raised.perProject.get('qa')).toBe(2 * 1024 ** 3);
    const pass = await runSchedulerPass(db.pool, { ...base, quota: raised });
    expect(pass.overQuota).toBe(0);
    expect(await jobsOf(a1)).toEqual(['schedule']);
    expect(await jobsOf(a2)).toEqual(['schedule']);
    const r = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM volumes WHERE quota_error IS NOT NULL`,
    );
    expect(r.rows[0]?.n).toBe('0');
  });
});
