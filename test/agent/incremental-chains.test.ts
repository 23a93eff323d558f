/**
 * Incremental chains through the queue, with an agent process (file engine, real Postgres):
 * the agent picks the parent from its catalog (the newest good backup on its destination
 * whose chain is intact), the policy's backup:full=every=3 starts a new chain on the
 * fourth backup, a backup that failed its verify is not built on, the rows record level,
 * parent, root and why a backup is full; then prune with keep-last 1 keeps the newest
 * backup's whole chain and deletes the older chain, descendants first.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBackupsOfVolume } from '../../src/db/backups.js';
import { addVolume } from '../db/volume-fixtures.js';
import { archiveExists, useAgentTestbed } from './agent-testbed.js';

const bed = useAgentTestbed('clb-chains-');

describe('incremental chains chosen by the agent', () => {
  it(
    'builds levels on its catalog, starts new chains by policy and prunes whole chains',
    { timeout: 180_000 },
    async () => {
      const host = 'chains@lvm';
      const dest = path.join(bed.work, 'dest');
      const vol = await addVolume(bed.db.pool, host, { name: 'chained' });
      // No retention while backing up (a backup queues a prune when there is one).
      const policy = (retention: Record<string, number>): string =>
        JSON.stringify({
          scheduleText: 'daily',
          retention,
          excludes: [],
          incremental: { enabled: true, fullEvery: { kind: 'count', count: 3, text: 'every=3' } },
        });
      const setPolicy = (retention: Record<string, number>) =>
        bed.db.pool.query('UPDATE volumes SET policy = $2 WHERE id = $1', [
          vol.id,
          policy(retention),
        ]);
      await setPolicy({});
      const agent = await bed.start({
        hosts: [host],
        dest,
        runDir: path.join(bed.work, 'run'),
        args: ['--poll-seconds', '1', '--lease-seconds', '10'],
      });
      const newest = async () => (await listBackupsOfVolume(bed.db.pool, vol.id))[0];

      const levels: [number, string | null][] = [];
      for (let i = 0; i < 5; i += 1) {
        expect((await bed.enqueueWait('backup', vol.id)).state).toBe('succeeded');
        const b = await newest();
        levels.push([b?.level ?? -1, b?.parentBackupId ?? null]);
      }
      const rows = (await listBackupsOfVolume(bed.db.pool, vol.id)).reverse();
      const id = (i: number): string | null => rows[i]?.backupId ?? null;
      expect(levels).toEqual([
        [0, null],
        [1, id(0)],
        [2, id(1)],
        [0, null],
        [1, id(3)],
      ]);
      expect(rows[0]?.fullReason).toMatch(/^no good backup on /);
      expect(rows[3]?.fullReason).toMatch(/^backup:full every=3: the chain of .* holds 3$/);
      expect(rows[4]?.chainRootBackupId).toBe(id(3));

      // A backup that failed its verify is not built on: the next is level 1 on backup 3.
      await bed.db.pool.query('UPDATE backups SET verify_ok = false WHERE id = $1', [rows[4]?.id]);
      expect((await bed.enqueueWait('backup', vol.id)).state).toBe('succeeded');
      const sixth = await newest();
      expect([sixth?.level, sixth?.parentBackupId]).toEqual([1, id(3)]);

      // keep-last 1 keeps the sixth and its full backup; the first chain and the bad fifth go.
      await setPolicy({ keepLast: 1 });
      const job = await bed.enqueueWait('prune', vol.id);
      expect(job.state).toBe('succeeded');
      const pruned = (job.result as { pruned: number[] }).pruned;
      expect(pruned).toEqual([rows[4]?.id, rows[2]?.id, rows[1]?.id, rows[0]?.id]);
      const after = await listBackupsOfVolume(bed.db.pool, vol.id);
      for (const b of after) {
        const gone = pruned.includes(b.id);
        expect(b.prunedAt !== null, `row ${b.id}`).toBe(gone);
        expect(await archiveExists(b.location)).toBe(!gone);
      }

      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    },
  );
});
