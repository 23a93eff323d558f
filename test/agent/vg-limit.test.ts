/**
 * The per-volume-group limit: one agent serving two backends on two VGs never runs two
 * backups of the same VG at once, but does run one on each VG side by side.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { enqueueJob } from '../../src/jobs/queue.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from './agent-testbed.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { waitFor } from './agent-process.js';

const bed = useAgentTestbed('clb-vg-');

/** Most intervals that overlap at one instant. */
function maxOverlap(intervals: { from: number; to: number }[]): number {
  const edges = intervals.flatMap((i) => [
    { t: i.from, d: 1 },
    { t: i.to, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of edges) {
    now += e.d;
    max = Math.max(max, now);
  }
  return max;
}

describe('the per-VG limit', () => {
  it('runs one backup per volume group at a time', { timeout: CHILD_TEST_TIMEOUT_MS }, async () => {
    for (const host of ['one@lvm', 'two@lvm']) {
      for (let i = 0; i < 4; i += 1) {
        const v = await addVolume(bed.db.pool, host);
        await enqueueJob(bed.db.pool, {
          kind: 'backup',
          volumeId: v.id,
          backendHost: host,
          lvName: v.lvName,
          reason: 'test',
        });
      }
    }
    const agent = await bed.start({
      hosts: ['one@lvm=vg1', 'two@lvm=vg2'],
      dest: path.join(bed.work, 'dest'),
      runDir: path.join(bed.work, 'run'),
      args: ['--concurrency', '4', '--per-vg', '1', '--poll-seconds', '1'],
      env: { CLB_FAKE_WORK_MS: '400' },
    });
    await waitFor(
      'all backups',
      async () =>
        (await bed.db.pool.query(`SELECT 1 FROM jobs WHERE state = 'succeeded'`)).rowCount === 8,
      bed.output,
    );
    const spans = await bed.db.pool.query<{ host: string; from: Date; to: Date }>(
      `SELECT j.backend_host AS host, s.at AS from, e.at AS to
         FROM jobs j
         JOIN events s ON s.job_id = j.id AND s.kind = 'backup.started'
         JOIN events e ON e.job_id = j.id AND e.kind = 'backup.succeeded'`,
    );
    const of = (host?: string) =>
      spans.rows
        .filter((r) => host === undefined || r.host === host)
        .map((r) => ({ from: r.from.getTime(), to: r.to.getTime() }));
    expect(spans.rowCount).toBe(8);
    expect(maxOverlap(of('one@lvm'))).toBe(1);
    expect(maxOverlap(of('two@lvm'))).toBe(1);
    expect(maxOverlap(of())).toBe(2);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });
});
