/**
 * The restore target's maintenance hold through the real processes: `enqueue restore` (the
 * CLI, a child process) puts the target in Cinder's `maintenance` while no controller runs;
 * the restore ends; a controller started afterwards (the next leader) puts the volume back.
 * With the controller running, a failed restore's target comes back within its release
 * interval, and `CLB_RESTORE_SET_MAINTENANCE=false` leaves Cinder alone.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { putVolume } from '../db/volume-fixtures.js';
import { useControllerTestbed } from './controller-testbed.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = 'stor1@lvm';
const bed = useControllerTestbed('rm');

interface EnqueueOutput {
  status: string;
  created: boolean;
  job: { id: number; payload: Record<string, unknown> };
}

/** `enqueue restore … --json` as an operator runs it. */
function enqueueRestore(
  sourceId: string,
  targetId: string,
  env: Record<string, string> = {},
): Promise<{ code: number; out: EnqueueOutput | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'enqueue',
        'restore',
        '--volume',
        sourceId,
        '--target-volume',
        targetId,
        '--json',
      ],
      {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: process.env['HOME'] ?? '/root',
          DATABASE_URL: bed.db.url,
          ...bed.emu.env('password'),
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : err.code;
        if (typeof code !== 'number') return reject(err ?? new Error('no exit code'));
        let out: EnqueueOutput | null = null;
        try {
          out = JSON.parse(stdout) as EnqueueOutput;
        } catch {
          out = null;
        }
        resolve({ code, out, stderr });
      },
    );
  });
}

/** A source volume (in Cinder and the inventory) and an empty target beside it. */
async function pair(): Promise<{ source: string; target: string }> {
  const src = await bed.emu.control.createVolume({ size: 1, host: `${HOST}#LVM` });
  await putVolume(bed.db.pool, {
    id: src.id,
    projectId: src.projectId,
    status: 'available',
    sizeGb: 1,
    host: `${HOST}#LVM`,
    lvName: `volume-${src.id}`,
  });
  const tgt = await bed.emu.control.createVolume({ size: 1, host: `${HOST}#LVM` });
  return { source: src.id, target: tgt.id };
}

async function eventKinds(jobId: number): Promise<string[]> {
  const r = await bed.db.pool.query<{ kind: string }>(
    'SELECT kind FROM events WHERE job_id = $1 ORDER BY id',
    [jobId],
  );
  return r.rows.map((e) => e.kind);
}

describe('restore targets held in maintenance, across processes', () => {
  it('is set by enqueue restore and put back by the next leader after the restore ended', async () => {
    const { db, emu, waitFor } = bed;
    const a = await pair();
    const r = await enqueueRestore(a.source, a.target);
    expect(r.code, r.stderr).toBe(0);
    const jobId = r.out?.job.id ?? 0;
    expect(r.out?.job.payload['targetMaintenance']).toMatchObject({
      status: 'maintenance',
      previousStatus: 'available',
    });
    expect(emu.control.volume(a.target)?.status).toBe('maintenance');
    // The restore ends while no controller runs (its agent finished it).
    await db.pool.query(`UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1`, [
      jobId,
    ]);

    const ctl = bed.startController({
      CLB_LEADER_RETRY: '1',
      CLB_RESTORE_RELEASE_INTERVAL: '1',
    });
    await ctl.waitForLog('elected leader: running poller and scheduler');
    await waitFor(
      'the target back to available',
      () => emu.control.volume(a.target)?.status === 'available',
    );
    // The release is recorded after Cinder answers: Cinder can show it a moment before.
    await waitFor('the release recorded', async () => (await eventKinds(jobId)).length >= 2);
    expect(await eventKinds(jobId)).toEqual([
      'restore.target-maintenance',
      'restore.target-released',
    ]);

    // With the leader running, a failed restore's target comes back within its interval.
    const b = await pair();
    const rb = await enqueueRestore(b.source, b.target);
    expect(rb.code, rb.stderr).toBe(0);
    expect(emu.control.volume(b.target)?.status).toBe('maintenance');
    await db.pool.query(
      `UPDATE jobs SET state = 'failed', last_error_code = 'RESTORE_FAILED', finished_at = now()
        WHERE id = $1`,
      [rb.out?.job.id],
    );
    await waitFor(
      'the failed restore target back',
      () => emu.control.volume(b.target)?.status === 'available',
    );

    // Turned off: the restore is queued and Cinder is not asked to change anything.
    const c = await pair();
    const actions = () =>
      emu.control.requests('cinder').filter((q) => q.path.endsWith('/action')).length;
    const before = actions();
    const rc = await enqueueRestore(c.source, c.target, { CLB_RESTORE_SET_MAINTENANCE: 'false' });
    expect(rc.code, rc.stderr).toBe(0);
    expect(rc.out?.job.payload['targetMaintenance']).toBeUndefined();
    expect(emu.control.volume(c.target)?.status).toBe('available');
    expect(actions()).toBe(before);
  }, 180_000);
});
