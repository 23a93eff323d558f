/**
 * A transient Postgres failure inside a running job (its connection terminated by the
 * server in the middle of the statement that records the finished backup) does not fail
 * the job: the backup exists, so the agent writes its row again once a connection works,
 * and the job succeeds on its first attempt. Before, the attempt failed as DB_UNAVAILABLE
 * and the job ran a second time, leaving the first archive without a row.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from './agent-testbed.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { waitFor } from './agent-process.js';

const bed = useAgentTestbed('clb-transient-db-');

describe('a transient database failure inside a job', () => {
  it(
    'while recording a finished backup is retried, and the job succeeds on its first attempt',
    { timeout: CHILD_TEST_TIMEOUT_MS },
    async () => {
      const pool = bed.db.pool;
      // `slow` volumes take CLB_FAKE_SLOW_MS on their first attempt: time to hold the row.
      const v = await addVolume(pool, 'pgfault@lvm', { lvName: 'volume-slow-pg' });
      const job = await enqueueJob(pool, {
        kind: 'backup',
        volumeId: v.id,
        backendHost: 'pgfault@lvm',
        lvName: 'volume-slow-pg',
        reason: 'test',
      });
      const jobId = job?.id ?? 0;
      const agent = await bed.start({
        hosts: ['pgfault@lvm'],
        dest: path.join(bed.work, 'dest'),
        runDir: path.join(bed.work, 'run'),
        args: ['--poll-seconds', '1', '--retry-base-seconds', '1', '--retry-cap-seconds', '1'],
        env: { CLB_FAKE_SLOW_MS: '2500' },
      });
      await waitFor(
        'the backup row of the first attempt',
        async () =>
          (await pool.query('SELECT 1 FROM backups WHERE job_id = $1', [jobId])).rowCount === 1,
        bed.output,
      );

      // Hold the row, so the agent's closing UPDATE waits on the lock: a statement in
      // flight on a known connection. Then terminate that connection from the server side.
      const holder = await pool.connect();
      let terminated: number | null = null;
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT id FROM backups WHERE job_id = $1 FOR UPDATE', [jobId]);
        await waitFor(
          "the agent's UPDATE to wait on the row lock",
          async () => {
            const r = await pool.query<{ pid: number }>(
              `SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND query LIKE 'UPDATE backups SET status = ''succeeded''%'`,
            );
            terminated = r.rows[0]?.pid ?? null;
            return terminated !== null;
          },
          bed.output,
        );
        await pool.query('SELECT pg_terminate_backend($1)', [terminated]);
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }

      await waitFor(
        'the job to succeed',
        async () => (await getJob(pool, jobId))?.state === 'succeeded',
        bed.output,
      );
      expect(await getJob(pool, jobId)).toMatchObject({ attempts: 1 });
      const events = await pool.query<{ kind: string }>(
        `SELECT kind FROM events WHERE job_id = $1 AND kind LIKE 'job.%' ORDER BY id`,
        [jobId],
      );
      expect(events.rows.map((e) => e.kind)).toEqual(['job.claimed', 'job.succeeded']);
      const rows = await pool.query<{ status: string; error_code: string | null }>(
        'SELECT status, error_code FROM backups WHERE job_id = $1 ORDER BY id',
        [jobId],
      );
      expect(rows.rows).toEqual([{ status: 'succeeded', error_code: null }]);
      // The write really failed once and was repeated.
      expect(agent.stderr()).toMatch(/"msg":"cannot record the finished backup yet"/);
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    },
  );
});
