/**
 * Pruning end to end with an agent process (file engine): backups made through the queue,
 * `enqueue prune --wait`, and exactly the archives retention chose are gone from disk and
 * marked pruned; the rest, and other volumes' archives, are untouched.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBackupsOfVolume } from '../../src/db/backups.js';
import { selectForPruning } from '../../src/policy/retention.js';
import { addVolume } from '../db/volume-fixtures.js';
import { archiveExists, useAgentTestbed } from './agent-testbed.js';

const bed = useAgentTestbed('clb-prune-');

describe('pruning', () => {
  it(
    'removes exactly the archives retention chose and marks their rows',
    { timeout: 120_000 },
    async () => {
      const host = 'prune@lvm';
      const dest = path.join(bed.work, 'dest');
      const vol = await addVolume(bed.db.pool, host, { name: 'pruned' });
      const other = await addVolume(bed.db.pool, host, { name: 'bystander' });
      const agent = await bed.start({
        hosts: [host],
        dest,
        runDir: path.join(bed.work, 'run'),
        args: ['--poll-seconds', '1', '--lease-seconds', '10'],
      });

      for (let i = 0; i < 5; i += 1)
        expect((await bed.enqueueWait('backup', vol.id)).state).toBe('succeeded');
      expect((await bed.enqueueWait('backup', other.id)).state).toBe('succeeded');
      // Spread the five backups over five days, and fail one more recent run.
      const rows = (await listBackupsOfVolume(bed.db.pool, vol.id)).reverse();
      for (const [i, b] of rows.entries()) {
        await bed.db.pool.query('UPDATE backups SET started_at = $2 WHERE id = $1', [
          b.id,
          new Date(Date.UTC(2026, 5, 10 + i, 3)),
        ]);
      }
      await bed.db.pool.query(
        `INSERT INTO backups (volume_id, status, reason, started_at, error_code)
       VALUES ($1, 'failed', 'schedule', '2026-06-20T03:00Z', 'SNAPSHOT_OVERFLOW')`,
        [vol.id],
      );
      // Retention: the two newest; the oldest verified good, so it stays too.
      await bed.db.pool.query(
        'UPDATE backups SET verify_ok = true, verified_at = now() WHERE id = $1',
        [rows[0]?.id],
      );
      await bed.db.pool.query(`UPDATE volumes SET policy = $2 WHERE id = $1`, [
        vol.id,
        JSON.stringify({ scheduleText: 'daily', retention: { keepLast: 2 }, excludes: [] }),
      ]);
      const before = await listBackupsOfVolume(bed.db.pool, vol.id);
      const expected = selectForPruning(
        before,
        { keepLast: 2 },
        { now: new Date(), timeZone: 'UTC' },
      );
      expect(expected.prune.sort()).toEqual([rows[1]?.id, rows[2]?.id].sort());

      // `prune --json` (no --apply) previews the same decision from the catalog.
      const preview = await bed.cli(['prune', '--volume', vol.id, '--json']);
      expect((JSON.parse(preview) as { prune: number[] }).prune.sort()).toEqual(
        expected.prune.sort(),
      );

      const job = await bed.enqueueWait('prune', vol.id);
      expect(job.state).toBe('succeeded');
      expect((job.result as { pruned: number[] }).pruned.sort()).toEqual(expected.prune.sort());

      const after = await listBackupsOfVolume(bed.db.pool, vol.id);
      for (const b of after.filter((x) => x.status === 'succeeded')) {
        const gone = expected.prune.includes(b.id);
        expect(b.prunedAt !== null).toBe(gone);
        expect(await archiveExists(b.location)).toBe(!gone);
      }
      const bystander = await listBackupsOfVolume(bed.db.pool, other.id);
      expect(await archiveExists(bystander[0]?.location ?? null)).toBe(true);
      expect(bystander[0]?.prunedAt).toBeNull();

      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    },
  );
});
