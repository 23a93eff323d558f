/**
 * Failures through the agent: a retryable one comes back after its (capped, jittered)
 * backoff and succeeds; a permanent one fails at once and shows in backup_failures.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from './agent-testbed.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { waitFor } from './agent-process.js';

const bed = useAgentTestbed('clb-retry-');

async function backupJob(lvName: string): Promise<number> {
  const v = await addVolume(bed.db.pool, 'retry@lvm', { lvName, name: lvName });
  const j = await enqueueJob(bed.db.pool, {
    kind: 'backup',
    volumeId: v.id,
    backendHost: 'retry@lvm',
    lvName,
    reason: 'test',
  });
  return j?.id ?? 0;
}

describe('failures through the agent', () => {
  it(
    'retries a retryable failure after the backoff and not a permanent one',
    { timeout: CHILD_TEST_TIMEOUT_MS },
    async () => {
      const flaky = await backupJob('volume-flaky');
      const broken = await backupJob('volume-broken');
      const agent = await bed.start({
        hosts: ['retry@lvm'],
        dest: path.join(bed.work, 'dest'),
        runDir: path.join(bed.work, 'run'),
        args: ['--poll-seconds', '1', '--retry-base-seconds', '2', '--retry-cap-seconds', '2'],
      });
      await waitFor(
        'both jobs to end',
        async () =>
          (await getJob(bed.db.pool, flaky))?.state === 'succeeded' &&
          (await getJob(bed.db.pool, broken))?.state === 'failed',
        bed.output,
      );
      expect(await getJob(bed.db.pool, flaky)).toMatchObject({
        attempts: 2,
        lastErrorCode: 'DEST_FULL',
      });
      expect(await getJob(bed.db.pool, broken)).toMatchObject({
        attempts: 1,
        lastErrorCode: 'LV_NOT_FOUND',
      });
      // The retry waited for the jittered backoff: between 1 s and 2 s (base = cap = 2 s).
      const gap = await bed.db.pool.query<{ s: number }>(
        `SELECT extract(epoch FROM (max(at) FILTER (WHERE kind = 'job.claimed')
                                - min(at) FILTER (WHERE kind = 'job.retry-scheduled')))::float AS s
         FROM events WHERE job_id = $1`,
        [flaky],
      );
      expect(gap.rows[0]?.s).toBeGreaterThanOrEqual(0.9);
      expect(gap.rows[0]?.s).toBeLessThan(5);
      const failures = await bed.db.pool.query<{ volume_name: string; error_code: string }>(
        'SELECT volume_name, error_code FROM backup_failures ORDER BY volume_name',
      );
      expect(failures.rows).toEqual([
        { volume_name: 'volume-broken', error_code: 'LV_NOT_FOUND' },
        { volume_name: 'volume-flaky', error_code: 'DEST_FULL' },
      ]);
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    },
  );
});
