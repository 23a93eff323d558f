/**
 * An agent killed while it holds a job: the job runs again on another agent of the same
 * host once the lease lapses, and the killed node's leftovers are reaped when it returns.
 * An agent stopped with SIGTERM past its deadline aborts its job cleanly and gives it back.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from './agent-testbed.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { waitFor } from './agent-process.js';

const bed = useAgentTestbed('clb-lease-');

const FAST = ['--poll-seconds', '1', '--lease-seconds', '3'];

async function slowJob(host: string): Promise<number> {
  const v = await addVolume(bed.db.pool, host, { lvName: `volume-slow-${Date.now()}` });
  const j = await enqueueJob(bed.db.pool, {
    kind: 'backup',
    volumeId: v.id,
    backendHost: host,
    lvName: v.lvName,
    reason: 'test',
  });
  if (j === null) throw new Error('enqueue failed');
  return j.id;
}

async function lockedBy(jobId: number): Promise<string | null> {
  const j = await getJob(bed.db.pool, jobId);
  return j?.state === 'running' ? j.lockedBy : null;
}

describe('leases', () => {
  it(
    'runs the job of a SIGKILLed agent again elsewhere and reaps the leftovers when it returns',
    { timeout: CHILD_TEST_TIMEOUT_MS },
    async () => {
      const host = 'kill@lvm';
      const dest = path.join(bed.work, 'dest');
      const runDirs = [path.join(bed.work, 'node-0'), path.join(bed.work, 'node-1')];
      await Promise.all(runDirs.map((d) => mkdir(d, { recursive: true })));
      const jobId = await slowJob(host);
      // Only the first agent is up when the job is enqueued, so it takes the job.
      const first = await bed.start({
        hosts: [host],
        dest,
        runDir: runDirs[0] ?? '',
        args: FAST,
      });
      await waitFor(
        'the first agent to hold the job',
        async () => (await lockedBy(jobId)) === first.agentId,
        bed.output,
      );
      await waitFor(
        'the first run directory',
        async () => (await readdir(runDirs[0] ?? '')).length > 0,
        bed.output,
      );
      const second = await bed.start({
        hosts: [host],
        dest,
        runDir: runDirs[1] ?? '',
        args: FAST,
      });

      const killedAt = Date.now();
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      // The crash left its run directory behind.
      const leftovers = await readdir(runDirs[0] ?? '');
      expect(leftovers).toHaveLength(1);
      expect(leftovers[0]).toMatch(new RegExp(`^j${jobId}-a1-[0-9a-f]{6}$`));

      await waitFor(
        'the job to succeed on the second agent',
        async () => (await getJob(bed.db.pool, jobId))?.state === 'succeeded',
        bed.output,
      );
      const takeover = (Date.now() - killedAt) / 1000;
      console.log(
        `lease takeover: job finished on the second agent ${takeover.toFixed(1)} s after SIGKILL (lease 3 s)`,
      );
      const job = await getJob(bed.db.pool, jobId);
      expect(job?.attempts).toBe(2);
      const rows = await bed.db.pool.query<{
        node: string;
        status: string;
        error_code: string | null;
      }>('SELECT node, status, error_code FROM backups WHERE job_id = $1 ORDER BY id', [jobId]);
      expect(rows.rows).toEqual([
        { node: first.agentId, status: 'failed', error_code: 'LEASE_EXPIRED' },
        { node: second.agentId, status: 'succeeded', error_code: null },
      ]);

      // The killed node comes back: its reaper removes the leftover before it claims.
      const back = await bed.start({
        hosts: [host],
        dest,
        runDir: runDirs[0] ?? '',
        args: FAST,
      });
      await waitFor(
        'the returning agent to reap',
        async () =>
          (
            await bed.db.pool.query(
              `SELECT 1 FROM events WHERE kind = 'agent.reaped' AND node = $1`,
              [back.agentId],
            )
          ).rowCount === 1,
        bed.output,
      );
      expect(await readdir(runDirs[0] ?? '')).toEqual([]);
      const reaped = await bed.db.pool.query<{ data: { removed: { name: string }[] } }>(
        `SELECT data FROM events WHERE kind = 'agent.reaped' AND node = $1`,
        [back.agentId],
      );
      expect(reaped.rows[0]?.data.removed.map((r) => path.basename(r.name))).toEqual(leftovers);

      for (const a of [second, back]) a.child.kill('SIGTERM');
      expect(await Promise.all([second.exited, back.exited])).toEqual([0, 0]);
    },
  );

  it(
    'aborts a running job after the stop deadline, cleans up and releases it for the next agent',
    { timeout: CHILD_TEST_TIMEOUT_MS },
    async () => {
      const host = 'term@lvm';
      const dest = path.join(bed.work, 'dest-term');
      const runDir = path.join(bed.work, 'node-term');
      await mkdir(runDir, { recursive: true });
      const jobId = await slowJob(host);
      const agent = await bed.start({
        hosts: [host],
        dest,
        runDir,
        args: [...FAST, '--stop-timeout', '1'],
      });
      await waitFor(
        'the agent to hold the job',
        async () => (await lockedBy(jobId)) === agent.agentId,
        bed.output,
      );
      const termAt = Date.now();
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
      const stopSeconds = (Date.now() - termAt) / 1000;
      console.log(`graceful stop with a 1 s deadline took ${stopSeconds.toFixed(1)} s`);
      expect(stopSeconds).toBeLessThan(10);
      // Released: queued again, the attempt not counted, and no run directory left.
      expect(await getJob(bed.db.pool, jobId)).toMatchObject({
        state: 'queued',
        attempts: 0,
        lockedBy: null,
      });
      expect(await readdir(runDir)).toEqual([]);
      const events = await bed.db.pool.query<{ kind: string }>(
        'SELECT kind FROM events WHERE job_id = $1 ORDER BY id',
        [jobId],
      );
      expect(events.rows.map((e) => e.kind)).toEqual(
        expect.arrayContaining([
          'job.claimed',
          'backup.started',
          'backup.cancelled',
          'job.released',
        ]),
      );
      const row = await bed.db.pool.query<{ status: string; error_code: string }>(
        'SELECT status, error_code FROM backups WHERE job_id = $1',
        [jobId],
      );
      // Stopped by the shutdown, not by a fault: cancelled, and not listed as a failure.
      expect(row.rows).toEqual([{ status: 'cancelled', error_code: 'ABORTED' }]);
      const failures = await bed.db.pool.query('SELECT 1 FROM backup_failures WHERE job_id = $1', [
        jobId,
      ]);
      expect(failures.rowCount).toBe(0);
    },
  );
});
