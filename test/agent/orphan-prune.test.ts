/**
 * Backups of gone volumes end to end: an agent process (file engine, its own login role
 * under row security), backups made through the queue, the controller's orphan pass run
 * against the same database. Within the grace nothing is deleted (even by a prune job
 * that asks); after it every backup of the deleted volume goes, each incremental before
 * what it depends on, with the reason on its row; a volume re-tagged before its prune runs
 * loses nothing; a backup another host holds is refused with PRUNE_WRONG_HOST and left,
 * and the agent of the host that holds it prunes it though the volume is on another host.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBackupsOfVolume, type BackupRecord } from '../../src/db/backups.js';
import { listOrphanedVolumes } from '../../src/db/orphaned-volumes.js';
import type { Job } from '../../src/jobs/job.js';
import { runOrphanPass } from '../../src/jobs/orphan-pass.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { archiveExists, useAgentTestbed } from './agent-testbed.js';

const bed = useAgentTestbed('clb-orphan-');
const DAY = 86_400_000;
const GRACE = { graceSeconds: 30 * 86_400 };

async function openPrune(volumeId: string): Promise<Job | null> {
  const r = await bed.db.pool.query<{ id: string }>(
    `SELECT id FROM jobs WHERE volume_id = $1 AND kind = 'prune' ORDER BY id DESC LIMIT 1`,
    [volumeId],
  );
  const id = r.rows[0]?.id;
  return id === undefined ? null : getJob(bed.db.pool, Number(id));
}

async function onDisk(rows: BackupRecord[]): Promise<boolean[]> {
  return Promise.all(rows.map((b) => archiveExists(b.location)));
}

const succeeded = async (volumeId: string): Promise<BackupRecord[]> =>
  (await listBackupsOfVolume(bed.db.pool, volumeId)).filter((b) => b.status === 'succeeded');

describe('backups of deleted and switched-off volumes', () => {
  it(
    'are kept within the grace, pruned whole after it, and never on a host that does not hold them',
    { timeout: 480_000 },
    async () => {
      const host = 'orphan@lvm';
      const dest = path.join(bed.work, 'dest');
      const pool = bed.db.pool;
      const gone = await addVolume(pool, host, { name: 'gone' });
      const retagged = await addVolume(pool, host, { name: 'retagged' });
      const moved = await addVolume(pool, host, { name: 'moved' });
      const chained = JSON.stringify({
        scheduleText: 'daily',
        retention: {},
        excludes: [],
        incremental: { enabled: true, fullEvery: { kind: 'count', count: 3, text: 'every=3' } },
      });
      await pool.query('UPDATE volumes SET policy = $2 WHERE id = ANY($1::uuid[])', [
        [gone.id, retagged.id, moved.id],
        chained,
      ]);
      const agent = await bed.start({
        hosts: [host],
        dest,
        runDir: path.join(bed.work, 'run'),
        args: ['--poll-seconds', '1', '--lease-seconds', '10'],
      });
      for (let i = 0; i < 4; i += 1)
        expect((await bed.enqueueWait('backup', gone.id)).state).toBe('succeeded');
      for (let i = 0; i < 2; i += 1)
        expect((await bed.enqueueWait('backup', moved.id)).state).toBe('succeeded');
      expect((await bed.enqueueWait('backup', retagged.id)).state).toBe('succeeded');

      // Two chains: full, +1, +2, then a new full (every=3); each row names its host,
      // written by the agent's own role.
      const rows = await succeeded(gone.id);
      expect(rows.map((b) => b.level)).toEqual([0, 2, 1, 0]);
      expect(rows.every((b) => b.backendHost === host)).toBe(true);
      expect(await onDisk(rows)).toEqual([true, true, true, true]);

      // Deleted 10 days ago: the pass queues nothing, and a prune that asks deletes nothing.
      await pool.query(
        `UPDATE volumes SET status = 'deleted', deleted_at = now() - interval '10 days'
          WHERE id = $1`,
        [gone.id],
      );
      const early = await runOrphanPass(pool, GRACE);
      expect(early.inGrace).toBe(1);
      expect(await openPrune(gone.id)).toBeNull();
      const asked = await enqueueJob(pool, {
        kind: 'prune',
        volumeId: gone.id,
        backendHost: host,
        lvName: gone.lvName,
        reason: 'orphan:deleted',
        payload: { orphan: GRACE, backupRowIds: rows.map((b) => b.id) },
      });
      const skipped = await bed.finished(asked?.id ?? -1);
      expect(skipped.state).toBe('succeeded');
      expect(skipped.result?.['skipped']).toMatch(/^the grace runs until /);
      expect(await onDisk(rows)).toEqual([true, true, true, true]);
      expect((await succeeded(gone.id)).every((b) => b.prunedAt === null)).toBe(true);

      // 31 days: the pass queues the prune; every backup goes, incrementals first.
      const deletedAt = new Date(Date.now() - 31 * DAY);
      await pool.query('UPDATE volumes SET deleted_at = $2 WHERE id = $1', [gone.id, deletedAt]);
      const due = await runOrphanPass(pool, GRACE);
      expect(due.enqueued).toBe(1);
      const job = await bed.finished((await openPrune(gone.id))?.id ?? -1);
      expect(job.state).toBe('succeeded');
      expect(job.result?.['pruned']).toEqual(rows.map((b) => b.id));
      const reason = `volume deleted ${deletedAt.toISOString().slice(0, 10)}, grace 30 d`;
      const after = await succeeded(gone.id);
      expect(after.map((b) => [b.prunedAt !== null, b.pruneReason])).toEqual(
        rows.map(() => [true, reason]),
      );
      expect(await onDisk(after)).toEqual([false, false, false, false]);
      const removed = await pool.query<{ backup_row_id: string }>(
        `SELECT data ->> 'backupRowId' AS backup_row_id FROM events
          WHERE job_id = $1 AND kind = 'prune.removed' ORDER BY id`,
        [job.id],
      );
      // Each incremental went before the backup it depends on.
      expect(removed.rows.map((r) => Number(r.backup_row_id))).toEqual([
        rows[0]?.id,
        rows[1]?.id,
        rows[2]?.id,
        rows[3]?.id,
      ]);
      const view = (await listOrphanedVolumes(pool)).find((v) => v.volume_id === gone.id);
      expect(view).toMatchObject({
        gone: 'deleted',
        backups_kept: 0,
        backups_pruned: 4,
        prune_reason: reason,
      });

      // Switched off 40 days ago, prune queued, re-tagged before it runs: nothing is lost.
      await pool.query(
        `UPDATE volumes SET policy = NULL, policy_off_at = now() - interval '40 days'
          WHERE id = $1`,
        [retagged.id],
      );
      const kept = await succeeded(retagged.id);
      const late = await enqueueJob(pool, {
        kind: 'prune',
        volumeId: retagged.id,
        backendHost: host,
        lvName: retagged.lvName,
        reason: 'orphan:off',
        payload: { orphan: GRACE, backupRowIds: kept.map((b) => b.id) },
        runAt: new Date(Date.now() + 3_600_000),
      });
      await pool.query('UPDATE volumes SET policy = $2, policy_off_at = NULL WHERE id = $1', [
        retagged.id,
        chained,
      ]);
      await pool.query('UPDATE jobs SET run_at = now() WHERE id = $1', [late?.id]);
      const back = await bed.finished(late?.id ?? -1);
      expect(back.state).toBe('succeeded');
      expect(back.result?.['skipped']).toMatch(/has a policy again/);
      expect(await onDisk(kept)).toEqual([true]);
      expect((await succeeded(retagged.id))[0]?.prunedAt).toBeNull();

      // A backup held by another host (the volume moved): refused, left, and said so.
      const [newer, older] = await succeeded(moved.id);
      await pool.query(`UPDATE backups SET backend_host = 'elsewhere@lvm' WHERE id = $1`, [
        newer?.id,
      ]);
      await pool.query(
        `UPDATE volumes SET status = 'deleted', deleted_at = now() - interval '40 days'
          WHERE id = $1`,
        [moved.id],
      );
      const foreign = await enqueueJob(pool, {
        kind: 'prune',
        volumeId: moved.id,
        backendHost: host,
        lvName: moved.lvName,
        reason: 'orphan:deleted',
        payload: { orphan: GRACE, backupRowIds: [newer?.id, older?.id] },
      });
      const refused = await bed.finished(foreign?.id ?? -1);
      expect(refused.state).toBe('failed');
      expect(refused.lastErrorCode).toBe('PRUNE_WRONG_HOST');
      expect(refused.lastErrorMessage).toContain(`${newer?.id} (held by elsewhere@lvm)`);
      const movedAfter = await succeeded(moved.id);
      expect(movedAfter.map((b) => [b.id, b.prunedAt === null])).toEqual([
        [newer?.id, true],
        [older?.id, false],
      ]);
      expect(await onDisk(movedAfter)).toEqual([true, false]);

      // The pass routes what is left to the host that holds it, whose agent prunes it though
      // the volume is not on its host (its own role: it sees the volume through the job).
      await pool.query(`UPDATE jobs SET finished_at = now() - interval '2 days' WHERE id = $1`, [
        foreign?.id,
      ]);
      await runOrphanPass(pool, GRACE);
      const rerouted = await openPrune(moved.id);
      expect([rerouted?.backendHost, rerouted?.payload['backupRowIds']]).toEqual([
        'elsewhere@lvm',
        [newer?.id],
      ]);
      const other = await bed.start({
        hosts: ['elsewhere@lvm'],
        dest,
        runDir: path.join(bed.work, 'run-elsewhere'),
        args: ['--poll-seconds', '1', '--lease-seconds', '10'],
      });
      const there = await bed.finished(rerouted?.id ?? -1);
      expect([there.state, there.lastErrorCode, there.result?.['pruned']]).toEqual([
        'succeeded',
        null,
        [newer?.id],
      ]);
      const movedGone = await succeeded(moved.id);
      expect(movedGone.every((b) => b.prunedAt !== null)).toBe(true);
      expect(await onDisk(movedGone)).toEqual([false, false]);
      const seen = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM events WHERE job_id = $1 AND kind = 'prune.removed'`,
        [rerouted?.id],
      );
      expect(Number(seen.rows[0]?.n)).toBe(1);
      other.child.kill('SIGTERM');
      expect(await other.exited).toBe(0);

      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    },
  );
});
