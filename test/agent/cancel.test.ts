/**
 * Cancelling a running job: the agent hears the hint (NOTIFY) or sees the flag at its next
 * lease renewal, aborts the engine (which cleans up) and marks the job and its backup row
 * cancelled; the cancelled run is not a failure in the views.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cancelJob, enqueueJob, getJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from './agent-testbed.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { waitFor } from './agent-process.js';

const bed = useAgentTestbed('clb-cancel-');

describe('cancel', () => {
  it(
    'stops a running backup, cleans up and marks the job and the backup row cancelled, not failed',
    { timeout: CHILD_TEST_TIMEOUT_MS },
    async () => {
      const host = 'cancel@lvm';
      const runDir = path.join(bed.work, 'run');
      await mkdir(runDir, { recursive: true });
      const v = await addVolume(bed.db.pool, host, { lvName: 'volume-slow-cancel' });
      // A policy puts the volume in backup_status, whose last error is checked below.
      await bed.db.pool.query('UPDATE volumes SET policy = $2 WHERE id = $1', [
        v.id,
        JSON.stringify({ scheduleText: 'daily', retention: { keepLast: 2 } }),
      ]);
      const job = await enqueueJob(bed.db.pool, {
        kind: 'backup',
        volumeId: v.id,
        backendHost: host,
        lvName: v.lvName,
        reason: 'test',
      });
      // A long lease: only the NOTIFY hint can make the cancel quick.
      const agent = await bed.start({
        hosts: [host],
        dest: path.join(bed.work, 'dest'),
        runDir,
        args: ['--poll-seconds', '1', '--lease-seconds', '60'],
      });
      await waitFor(
        'the backup to start',
        async () => (await readdir(runDir)).length === 1,
        bed.output,
      );
      const asked = Date.now();
      expect((await cancelJob(bed.db.pool, job?.id ?? 0))?.cancelRequestedAt).not.toBeNull();
      await waitFor(
        'the job to be cancelled',
        async () => (await getJob(bed.db.pool, job?.id ?? 0))?.state === 'cancelled',
        bed.output,
      );
      const seconds = (Date.now() - asked) / 1000;
      console.log(`cancel took ${seconds.toFixed(2)} s (lease 60 s, renewal every 20 s)`);
      expect(seconds).toBeLessThan(10);
      expect(await readdir(runDir)).toEqual([]);
      const row = await bed.db.pool.query<{ status: string; error_code: string }>(
        'SELECT status, error_code FROM backups WHERE job_id = $1',
        [job?.id],
      );
      expect(row.rows).toEqual([{ status: 'cancelled', error_code: 'ABORTED' }]);
      const failures = await bed.db.pool.query(
        'SELECT kind, job_id FROM backup_failures WHERE volume_id = $1',
        [v.id],
      );
      expect(failures.rows).toEqual([]);
      const status = await bed.db.pool.query<{ last_status: string; last_error: string | null }>(
        'SELECT last_status, last_error FROM backup_status WHERE volume_id = $1',
        [v.id],
      );
      expect(status.rows).toEqual([{ last_status: 'cancelled', last_error: null }]);
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    },
  );
});
