/**
 * The orphan pass against a real Postgres, with the scheduler's pass before it as the
 * controller runs them and an injected clock: backups of a deleted or switched-off volume
 * are left alone within the grace and get one prune job, routed to the host that holds
 * them, once it has passed; a volume re-tagged within the grace keeps everything; the
 * `orphaned_volumes` view says where each stands.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markBackupPruned } from '../../src/db/backups.js';
import { listOrphanedVolumes } from '../../src/db/orphaned-volumes.js';
import { loadReport } from '../../src/report/load-report.js';
import { dailyReportMail } from '../../src/report/render-report.js';
import { markVolumeDeleted } from '../../src/db/volumes.js';
import { ORPHAN_RETRY_SECONDS, runOrphanPass } from '../../src/jobs/orphan-pass.js';
import { runSchedulerPass } from '../../src/jobs/scheduler.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { NO_PROJECT_QUOTA } from '../../src/policy/project-quota.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';

let db: FreshDatabase;
const DAY = 86_400_000;
const GRACE = { graceSeconds: 30 * 86_400 };
const scheduling = {
  limits: DEFAULT_POLICY_LIMITS,
  timeZone: 'UTC',
  retryAfterSeconds: 3600,
  quota: NO_PROJECT_QUOTA,
};
// Times ahead of the rows' own now(): the clock the passes are given.
const t0 = new Date(Date.now() + DAY);
const at = (days: number): Date => new Date(t0.getTime() + days * DAY);

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function volume(metadata: Record<string, string>, host = 'stor1@lvm'): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    name: `v-${id.slice(0, 6)}`,
    projectId: 'p',
    status: 'available',
    sizeGb: 1,
    host: `${host}#pool`,
    lvName: `volume-${id}`,
    metadata,
  });
  return id;
}

/** A successful backup row held by `host` (null: an old row without one). */
async function backup(volumeId: string, host: string | null, parent?: string): Promise<number> {
  const backupId = `b-${randomUUID()}`;
  const r = await db.pool.query<{ id: string }>(
    `INSERT INTO backups (volume_id, backup_id, status, reason, manifest_path, location,
                          bytes_written, backend_host, level, parent_backup_id)
     VALUES ($1, $2, 'succeeded', 'schedule', '/d/m', '/d/' || $2, 1024, $3, $4, $5)
     RETURNING id`,
    [volumeId, backupId, host, parent === undefined ? 0 : 1, parent ?? null],
  );
  return Number(r.rows[0]?.id);
}

async function backupIdOf(rowId: number): Promise<string> {
  const r = await db.pool.query<{ backup_id: string }>(
    'SELECT backup_id FROM backups WHERE id = $1',
    [rowId],
  );
  return r.rows[0]?.backup_id ?? '';
}

async function pruneJobs(volumeId: string) {
  const r = await db.pool.query<{
    id: string;
    backend_host: string;
    reason: string;
    payload: { orphan?: { graceSeconds: number; reason: string }; backupRowIds?: number[] };
  }>(
    `SELECT id, backend_host, reason, payload FROM jobs
      WHERE volume_id = $1 AND kind = 'prune' ORDER BY id`,
    [volumeId],
  );
  return r.rows;
}

async function passes(now: Date) {
  await runSchedulerPass(db.pool, scheduling, { now });
  return runOrphanPass(db.pool, GRACE, { now });
}

async function setMetadata(id: string, metadata: Record<string, string>): Promise<void> {
  await db.pool.query('UPDATE volumes SET metadata = $2 WHERE id = $1', [
    id,
    JSON.stringify(metadata),
  ]);
}

describe('the orphan pass', () => {
  it('prunes nothing of a deleted volume within the grace and queues one prune after it', async () => {
    const id = await volume({ backup: 'daily' });
    const full = await backup(id, 'stor1@lvm');
    const incr = await backup(id, 'stor1@lvm', await backupIdOf(full));
    await passes(t0);
    await markVolumeDeleted(db.pool, id, t0);
    const deletedAt = (
      await db.pool.query<{ deleted_at: Date }>('SELECT deleted_at FROM volumes WHERE id = $1', [
        id,
      ])
    ).rows[0]?.deleted_at as Date;

    const early = await passes(new Date(deletedAt.getTime() + 29 * DAY));
    expect(early.inGrace).toBeGreaterThanOrEqual(1);
    expect(await pruneJobs(id)).toEqual([]);
    const view = (await listOrphanedVolumes(db.pool)).find((v) => v.volume_id === id);
    expect(view).toMatchObject({
      gone: 'deleted',
      backups_kept: 2,
      bytes_kept: 2048,
      backups_pruned: 0,
    });
    expect(view?.gone_since.getTime()).toBe(deletedAt.getTime());
    expect(view?.prune_at?.getTime()).toBe(deletedAt.getTime() + 30 * DAY);

    await passes(new Date(deletedAt.getTime() + 30 * DAY + 1000));
    const jobs = await pruneJobs(id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ backend_host: 'stor1@lvm', reason: 'orphan:deleted' });
    expect(jobs[0]?.payload.backupRowIds).toEqual([incr, full]);
    expect(jobs[0]?.payload.orphan).toEqual({
      graceSeconds: 30 * 86_400,
      reason: `volume deleted ${deletedAt.toISOString().slice(0, 10)}, grace 30 d`,
    });
    // The open job is the enqueue key: another pass adds none.
    const again = await passes(new Date(deletedAt.getTime() + 31 * DAY));
    expect(again.alreadyOpen).toBeGreaterThanOrEqual(1);
    expect(await pruneJobs(id)).toHaveLength(1);
  });

  it('starts the grace of a volume switched off (backup=off) when the scheduler sees it off', async () => {
    const id = await volume({ backup: 'daily' });
    await backup(id, 'stor1@lvm');
    await passes(t0);
    await setMetadata(id, { backup: 'off' });
    await passes(at(1));
    const off = await db.pool.query<{ policy_off_at: Date }>(
      'SELECT policy_off_at FROM volumes WHERE id = $1',
      [id],
    );
    expect(off.rows[0]?.policy_off_at.getTime()).toBe(at(1).getTime());
    await passes(at(30.9));
    expect(await pruneJobs(id)).toEqual([]);
    await passes(at(31));
    const jobs = await pruneJobs(id);
    expect(jobs.map((j) => [j.reason, j.payload.orphan?.reason])).toEqual([
      ['orphan:off', `backups switched off ${at(1).toISOString().slice(0, 10)}, grace 30 d`],
    ]);
  });

  it('does the same for a volume whose tag was removed', async () => {
    const id = await volume({ backup: 'daily' });
    await backup(id, 'stor1@lvm');
    await passes(t0);
    await setMetadata(id, {});
    await passes(at(2));
    await passes(at(31));
    expect(await pruneJobs(id)).toEqual([]);
    await passes(at(32));
    expect((await pruneJobs(id)).map((j) => j.reason)).toEqual(['orphan:off']);
  });

  it('keeps everything of a volume re-tagged within the grace', async () => {
    const id = await volume({ backup: 'daily' });
    await backup(id, 'stor1@lvm');
    await passes(t0);
    await setMetadata(id, { backup: 'off' });
    await passes(at(1));
    await setMetadata(id, { backup: 'weekly' });
    await passes(at(20));
    const row = await db.pool.query<{ policy_off_at: Date | null; orphan_prune_at: Date | null }>(
      'SELECT policy_off_at, orphan_prune_at FROM volumes WHERE id = $1',
      [id],
    );
    expect(row.rows[0]).toEqual({ policy_off_at: null, orphan_prune_at: null });
    await passes(at(60));
    expect(await pruneJobs(id)).toEqual([]);
    expect((await listOrphanedVolumes(db.pool)).some((v) => v.volume_id === id)).toBe(false);
  });

  it('does not take a policy error for off', async () => {
    const id = await volume({ backup: 'daily' });
    await backup(id, 'stor1@lvm');
    await passes(t0);
    await setMetadata(id, { backup: 'daily', 'backup:retention': 'forever and ever' });
    await passes(at(1));
    const row = await db.pool.query<{ policy_error: string | null; policy_off_at: Date | null }>(
      'SELECT policy_error, policy_off_at FROM volumes WHERE id = $1',
      [id],
    );
    expect(row.rows[0]?.policy_error).toMatch(/retention/);
    expect(row.rows[0]?.policy_off_at).toBeNull();
    await passes(at(100));
    expect(await pruneJobs(id)).toEqual([]);
  });

  it('gives a never-tagged volume with backups (made by hand) the grace from when it is first seen', async () => {
    const id = await volume({});
    await backup(id, null);
    await runOrphanPass(db.pool, GRACE, { now: at(3) });
    await runOrphanPass(db.pool, GRACE, { now: at(32.9) });
    expect(await pruneJobs(id)).toEqual([]);
    await runOrphanPass(db.pool, GRACE, { now: at(33) });
    // An old row without a host is held by the volume's host.
    expect((await pruneJobs(id)).map((j) => j.backend_host)).toEqual(['stor1@lvm']);
  });

  it('routes a prune to each host that holds backups, with the backups it holds', async () => {
    const id = await volume({ backup: 'daily' }, 'stor2@lvm');
    const onOld = await backup(id, 'stor1@lvm');
    const onNew = await backup(id, 'stor2@lvm');
    await passes(t0);
    await markVolumeDeleted(db.pool, id, t0);
    await passes(at(40));
    const jobs = await pruneJobs(id);
    const byHost = jobs.sort((a, b) => a.backend_host.localeCompare(b.backend_host));
    expect(byHost.map((j) => [j.backend_host, j.payload.backupRowIds])).toEqual([
      ['stor1@lvm', [onOld]],
      ['stor2@lvm', [onNew]],
    ]);
    // One open prune per host: the next pass queues nothing more.
    const again = await passes(at(40.5));
    expect(again.alreadyOpen).toBeGreaterThanOrEqual(2);
    expect(await pruneJobs(id)).toHaveLength(2);
  });

  it('routes a retention prune to the old host of a moved volume when retention asks', async () => {
    const id = await volume({ backup: 'daily', 'backup:retention': 'last=1' }, 'stor2@lvm');
    const onOld = await backup(id, 'stor1@lvm');
    await backup(id, 'stor2@lvm');
    // Nothing asked yet (no prune on the volume's host named stor1): nothing routed.
    expect((await passes(t0)).movedEnqueued).toBe(0);
    /** The new host's after-backup prune, done, leaving `elsewhere` to other hosts. */
    const newHostPrune = (elsewhere: unknown[]) =>
      db.pool.query(
        `INSERT INTO jobs (kind, volume_id, backend_host, lv_name, reason, state, result,
                           created_at, finished_at)
         VALUES ('prune', $1, 'stor2@lvm', 'lv', 'after-backup:1', 'succeeded', $2,
                 clock_timestamp(), clock_timestamp())`,
        [id, JSON.stringify({ pruned: [], heldElsewhere: elsewhere })],
      );
    await newHostPrune([{ id: onOld, backendHost: 'stor1@lvm' }]);
    expect((await passes(at(0.1))).movedEnqueued).toBe(1);
    const routed = (await pruneJobs(id)).filter((j) => j.backend_host === 'stor1@lvm');
    expect(routed.map((j) => [j.reason, j.payload])).toEqual([['moved', {}]]);
    // Open: nothing more; done: nothing more until a prune asks again.
    expect((await passes(at(0.2))).movedEnqueued).toBe(0);
    await db.pool.query(
      `UPDATE jobs SET state = 'succeeded', finished_at = clock_timestamp() WHERE id = $1`,
      [routed[0]?.id],
    );
    expect((await passes(at(0.3))).movedEnqueued).toBe(0);
    await newHostPrune([{ id: onOld, backendHost: 'stor1@lvm' }]);
    expect((await passes(at(0.4))).movedEnqueued).toBe(1);
    // Once the old host's backups are pruned, nothing is routed there.
    await db.pool.query(
      `UPDATE jobs SET state = 'succeeded', finished_at = clock_timestamp() WHERE volume_id = $1`,
      [id],
    );
    await markBackupPruned(db.pool, onOld, 'retention');
    await newHostPrune([{ id: onOld, backendHost: 'stor1@lvm' }]);
    expect((await passes(at(0.5))).movedEnqueued).toBe(0);
  });

  it('waits a day before queueing again after a failed prune', async () => {
    const id = await volume({ backup: 'daily' });
    await backup(id, 'stor1@lvm');
    await passes(t0);
    await markVolumeDeleted(db.pool, id, t0);
    await passes(at(40));
    const [job] = await pruneJobs(id);
    const failedAt = at(40.1);
    await db.pool.query(
      `UPDATE jobs SET state = 'failed', finished_at = $2, last_error_code = 'PRUNE_WRONG_HOST'
        WHERE id = $1`,
      [job?.id, failedAt],
    );
    const held = await passes(new Date(failedAt.getTime() + ORPHAN_RETRY_SECONDS * 1000 - 1000));
    expect(held.heldAfterFailure).toBeGreaterThanOrEqual(1);
    expect(await pruneJobs(id)).toHaveLength(1);
    await passes(new Date(failedAt.getTime() + ORPHAN_RETRY_SECONDS * 1000));
    expect(await pruneJobs(id)).toHaveLength(2);
  });

  it('puts what was pruned of a gone volume, and why, in the view and the mail report', async () => {
    const id = await volume({ backup: 'daily' });
    const b1 = await backup(id, 'stor1@lvm');
    const b2 = await backup(id, 'stor1@lvm');
    await passes(t0);
    await markVolumeDeleted(db.pool, id, t0);
    const reason = 'volume deleted 2026-10-01, grace 30 d';
    const windowStart = new Date(Date.now() - 60_000);
    await markBackupPruned(db.pool, b1, reason);
    await markBackupPruned(db.pool, b2, reason);
    const view = (await listOrphanedVolumes(db.pool)).find((v) => v.volume_id === id);
    expect(view).toMatchObject({ backups_kept: 0, backups_pruned: 2, prune_reason: reason });
    const history = await db.pool.query<{ prune_reason: string; backend_host: string }>(
      'SELECT prune_reason, backend_host FROM backup_history WHERE volume_id = $1',
      [id],
    );
    expect(history.rows).toEqual([
      { prune_reason: reason, backend_host: 'stor1@lvm' },
      { prune_reason: reason, backend_host: 'stor1@lvm' },
    ]);
    const report = await loadReport(
      db.pool,
      { start: windowStart, end: new Date(Date.now() + 60_000) },
      { timeZone: 'UTC', tooOldGraceSeconds: 3600 },
    );
    const mail = dailyReportMail(report, 'today');
    expect(mail.text).toContain('2 of deleted or switched-off volumes (2.0 KiB)');
    expect(mail.text).toMatch(
      new RegExp(`v-${id.slice(0, 6)} \\(${id}\\)\\s+p\\s+2\\s+2\\.0 KiB\\s+${reason}`),
    );
  });
});
