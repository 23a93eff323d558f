/**
 * A volume that moved to another backend host (Cinder migration or retype) end to end: two
 * agent processes (file engine, each its own login role under row security and its own
 * destination), backups made through the queue on the old host and then on the new one.
 * The new host's after-backup prune deletes only what it holds and does not fail for the
 * older backups the old host keeps; the controller's pass routes a retention prune to the
 * old host, whose agent deletes the one retention chose there; a gone old host leaves its
 * backups in `stranded_backups`, with why, and nothing fails.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBackupsOfVolume, type BackupRecord } from '../../src/db/backups.js';
import { listStrandedBackups } from '../../src/db/held-elsewhere.js';
import type { Job } from '../../src/jobs/job.js';
import { runOrphanPass } from '../../src/jobs/orphan-pass.js';
import { getJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { archiveExists, useAgentTestbed } from './agent-testbed.js';

const bed = useAgentTestbed('clb-moved-');
const GRACE = { graceSeconds: 30 * 86_400 };

/** The volume's prune jobs, oldest first. */
async function prunes(volumeId: string): Promise<Job[]> {
  const r = await bed.db.pool.query<{ id: string }>(
    `SELECT id FROM jobs WHERE volume_id = $1 AND kind = 'prune' ORDER BY id`,
    [volumeId],
  );
  return Promise.all(r.rows.map(async (row) => (await getJob(bed.db.pool, Number(row.id)))!));
}

/** Succeeded backups, oldest first. */
const succeeded = async (volumeId: string): Promise<BackupRecord[]> =>
  (await listBackupsOfVolume(bed.db.pool, volumeId))
    .filter((b) => b.status === 'succeeded')
    .sort((a, b) => a.id - b.id);

describe('a volume that moved to another host', () => {
  it(
    'has its old backups pruned by the old host when retention says so, and nothing fails',
    { timeout: 240_000 },
    async () => {
      const pool = bed.db.pool;
      const oldHost = 'old@lvm';
      const newHost = 'new@lvm';
      const vol = await addVolume(pool, oldHost, { name: 'moving' });
      await pool.query('UPDATE volumes SET policy = $2 WHERE id = $1', [
        vol.id,
        JSON.stringify({ scheduleText: 'daily', retention: { keepLast: 2 }, excludes: [] }),
      ]);
      const oldAgent = await bed.start({
        hosts: [oldHost],
        dest: path.join(bed.work, 'dest-old'),
        runDir: path.join(bed.work, 'run-old'),
        args: ['--poll-seconds', '1', '--lease-seconds', '10'],
      });
      for (let i = 0; i < 2; i += 1)
        expect((await bed.enqueueWait('backup', vol.id)).state).toBe('succeeded');
      const [a1, a2] = await succeeded(vol.id);
      expect([a1?.backendHost, a2?.backendHost]).toEqual([oldHost, oldHost]);
      // Let the after-backup prunes on the old host end before the move.
      for (const p of await prunes(vol.id))
        expect((await bed.finished(p.id)).state).toBe('succeeded');

      // Cinder migrated it: its host changed.
      await pool.query(`UPDATE volumes SET host = $2 || '#pool', backend_host = $2 WHERE id = $1`, [
        vol.id,
        newHost,
      ]);
      const newAgent = await bed.start({
        hosts: [newHost],
        dest: path.join(bed.work, 'dest-new'),
        runDir: path.join(bed.work, 'run-new'),
        args: ['--poll-seconds', '1', '--lease-seconds', '10'],
      });
      const before = (await prunes(vol.id)).length;
      const made = await bed.enqueueWait('backup', vol.id);
      expect(made.state).toBe('succeeded');
      const pruneId = (made.result as { pruneJobId: number }).pruneJobId;
      const after = await bed.finished(pruneId);
      // keepLast 2 of three: a1 goes, but the old host holds it; not a failure.
      expect([after.backendHost, after.state, after.lastErrorCode]).toEqual([
        newHost,
        'succeeded',
        null,
      ]);
      expect(after.result?.['heldElsewhere']).toEqual([{ id: a1?.id, backendHost: oldHost }]);
      expect(await archiveExists(a1?.location ?? null)).toBe(true);
      expect((await succeeded(vol.id))[0]?.prunedAt).toBeNull();

      // The pass routes a retention prune to the old host, whose agent deletes a1 only.
      const pass = await runOrphanPass(pool, GRACE);
      expect(pass.movedEnqueued).toBe(1);
      const routed = (await prunes(vol.id)).slice(before + 1);
      expect(routed.map((j) => [j.backendHost, j.reason])).toEqual([[oldHost, 'moved']]);
      const there = await bed.finished(routed[0]?.id ?? -1);
      expect([there.state, there.lastErrorCode, there.result?.['pruned']]).toEqual([
        'succeeded',
        null,
        [a1?.id],
      ]);
      const rows = await succeeded(vol.id);
      expect(rows.map((b) => [b.backendHost, b.prunedAt !== null, b.pruneReason])).toEqual([
        [oldHost, true, 'retention'],
        [oldHost, false, null],
        [newHost, false, null],
      ]);
      expect(await Promise.all(rows.map((b) => archiveExists(b.location)))).toEqual([
        false,
        true,
        true,
      ]);
      expect(await listStrandedBackups(pool)).toEqual([]);

      // The old host is gone for good (its agent stopped, last seen two days ago): the next
      // backup's prune on the new host still succeeds, and the view says what is stranded.
      oldAgent.child.kill('SIGTERM');
      expect(await oldAgent.exited).toBe(0);
      await pool.query(
        `UPDATE agent_heartbeats SET last_seen_at = now() - interval '2 days'
          WHERE $1 = ANY (hosts)`,
        [oldHost],
      );
      const next = await bed.enqueueWait('backup', vol.id);
      const nextPrune = await bed.finished((next.result as { pruneJobId: number }).pruneJobId);
      expect([nextPrune.state, nextPrune.result?.['heldElsewhere']]).toEqual([
        'succeeded',
        [{ id: a2?.id, backendHost: oldHost }],
      ]);
      const stranded = await listStrandedBackups(pool);
      expect(stranded.map((s) => [s.backup_row_id, s.held_by, s.volume_host])).toEqual([
        [a2?.id, oldHost, newHost],
      ]);
      expect(stranded[0]?.reason).toMatch(
        /^held by old@lvm, whose agent was last seen \d{4}-\d\d-\d\d \d\d:\d\d UTC; the volume is now on new@lvm$/,
      );

      newAgent.child.kill('SIGTERM');
      expect(await newAgent.exited).toBe(0);
    },
  );
});
