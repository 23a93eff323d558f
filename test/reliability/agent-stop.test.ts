/**
 * The agent process (not the CLI) stopped with SIGTERM while its job meets a fault: the
 * real agent (queue, leases, events, shutdown; test/agent/file-engine-agent.ts, whose
 * engine writes through the engine's own destination code: `<backupId>.partial` work
 * directory, durable files, rename, discard) on a database of its own, as root.
 *
 * - refused-inserts: every insert into `events` refused by a trigger (as a permission or
 *   constraint error would) while a 3 s backup runs, SIGTERM at once, stop timeout 60 s.
 *   The job ends in 3 s; the agent must exit then, not at the stop timeout (it did not: a
 *   timer of the stop timeout outlived the wait), and the recorded backup must not be
 *   failed because its event was refused (it was).
 * - procfs-mkdir: the destination is under /proc (mkdir answers ENOENT although the parent
 *   exists); SIGTERM while the job runs. The job fails DEST_NOT_WRITABLE, the agent exits.
 * - blocked-write: the destination (ext4 on a loop device) is frozen (`fsfreeze`) while
 *   the backup's work directory exists, so the archive write blocks in the kernel; SIGTERM,
 *   stop timeout 2 s. No signal interrupts that write: the agent aborts the job at the stop
 *   timeout, gives it back to the queue after the abort grace (as long again) with the
 *   reason, and exits; the process is gone as soon as the write returns (thaw). A new agent
 *   then runs the job: no `.partial` is kept, no run directory is left.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { abortGraceMs } from '../../src/agent/agent.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import type { Job } from '../../src/jobs/job.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from '../agent/agent-testbed.js';
import type { AgentProcess } from '../agent/agent-process.js';
import { LoopDevices } from '../engine/helpers/loop-devices.js';
import { printFigures, waitUntil } from './figures.js';

const bed = useAgentTestbed('clb-rel-agent-stop-');
/** Seconds a process may take past its bound (node startup is not in it; load). */
const SLACK_S = 3;
let devices: LoopDevices | null = null;
let frozen: string | null = null;
const started: AgentProcess[] = [];

afterAll(async () => {
  // Thaw first: an agent blocked in a write on the frozen filesystem cannot die before.
  if (frozen !== null) await execa('fsfreeze', ['--unfreeze', frozen], { reject: false });
  // Before the testbed's own tear-down: a live agent keeps the loop mount busy.
  for (const a of started) a.child.kill('SIGKILL');
  await Promise.all(started.map((a) => a.exited));
  await bed.db.pool.query('DROP TRIGGER IF EXISTS refuse_events ON events').catch(() => undefined);
  await devices?.cleanup();
});

async function startAgent(opts: Parameters<typeof bed.start>[0]): Promise<AgentProcess> {
  const a = await bed.start(opts);
  started.push(a);
  return a;
}

async function job(id: number): Promise<Job> {
  const j = await getJob(bed.db.pool, id);
  if (j === null) throw new Error(`job ${id} is gone`);
  return j;
}

async function queueBackup(host: string, lvName: string): Promise<number> {
  const v = await addVolume(bed.db.pool, host, { lvName });
  const j = await enqueueJob(bed.db.pool, {
    kind: 'backup',
    volumeId: v.id,
    backendHost: host,
    lvName,
    reason: 'test',
  });
  if (j === null) throw new Error('no job');
  return j.id;
}

/** Files and directories under `dir` whose name ends in `.partial`. */
async function partials(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith('.partial'));
}

/** Seconds from now until the process ends, or null when it is still running after `ms`. */
async function exitWithin(
  agent: AgentProcess,
  ms: number,
): Promise<{ seconds: number; code: number | string } | null> {
  const t0 = Date.now();
  const r = await Promise.race([
    agent.exited,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), ms)),
  ]);
  return r === null ? null : { seconds: (Date.now() - t0) / 1000, code: r };
}

async function eventsOf(jobId: number): Promise<{ kind: string; message: string | null }[]> {
  const r = await bed.db.pool.query<{ kind: string; message: string | null }>(
    'SELECT kind, message FROM events WHERE job_id = $1 ORDER BY id',
    [jobId],
  );
  return r.rows;
}

describe('the agent stopped with SIGTERM while its job meets a fault', () => {
  it('exits within its bounds, gives the job back or fails it with the reason, keeps no partial', async () => {
    if (process.getuid?.() !== 0)
      throw new Error('this scenario needs root (loop device, fsfreeze)');
    const runDir = path.join(bed.work, 'run');
    await mkdir(runDir, { recursive: true });

    // --- refused-inserts ---------------------------------------------------------------
    const refusedHost = 'refused@lvm';
    const refusedDest = path.join(bed.work, 'dest-refused');
    await mkdir(refusedDest);
    const refusedJob = await queueBackup(refusedHost, 'volume-slow-refused');
    const a1 = await startAgent({
      hosts: [refusedHost],
      dest: refusedDest,
      runDir,
      args: ['--poll-seconds', '1', '--lease-seconds', '60', '--stop-timeout', '60'],
      env: { CLB_FAKE_SLOW_MS: '3000' },
    });
    await waitUntil(
      'the refused-inserts job to start',
      async () => (await partials(refusedDest)).length === 1,
      20_000,
    );
    await bed.db.pool.query(
      `CREATE OR REPLACE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'events refused (test)' USING ERRCODE = 'insufficient_privilege'; END $$`,
    );
    await bed.db.pool.query(
      'CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_events()',
    );
    a1.child.kill('SIGTERM');
    const refusedExit = await exitWithin(a1, 30_000);
    await bed.db.pool.query('DROP TRIGGER refuse_events ON events');
    expect(refusedExit, `agent still running 30 s after SIGTERM: ${a1.stderr()}`).not.toBeNull();
    // The job needs 3 s from its start; the stop timeout (60 s) is not waited out.
    expect(refusedExit?.seconds).toBeLessThan(3 + SLACK_S);
    expect(refusedExit?.code).toBe(0);
    // The backup is recorded and stored; its refused events did not fail it.
    expect(await job(refusedJob)).toMatchObject({ state: 'succeeded' });
    const stored = await readdir(path.join(refusedDest, 'volume-slow-refused'));
    expect(stored).toHaveLength(1);
    expect(await partials(refusedDest)).toEqual([]);

    // --- procfs-mkdir ------------------------------------------------------------------
    const procHost = 'procfs@lvm';
    const procDest = `/proc/clb-agent-dest-${randomBytes(4).toString('hex')}`;
    const procJob = await queueBackup(procHost, 'volume-procfs');
    const a2 = await startAgent({
      hosts: [procHost],
      dest: procDest,
      runDir,
      args: ['--poll-seconds', '1', '--stop-timeout', '60'],
    });
    await waitUntil(
      'the procfs job to be claimed',
      async () => (await job(procJob)).attempts > 0,
      20_000,
    );
    a2.child.kill('SIGTERM');
    const procExit = await exitWithin(a2, 30_000);
    expect(procExit, `agent still running 30 s after SIGTERM: ${a2.stderr()}`).not.toBeNull();
    expect(procExit?.seconds).toBeLessThan(SLACK_S);
    expect(procExit?.code).toBe(0);
    const procState = await job(procJob);
    expect(procState.lastErrorCode).toBe('DEST_NOT_WRITABLE');
    expect(['failed', 'queued']).toContain(procState.state);
    expect(existsSync(procDest)).toBe(false);

    // --- blocked-write -----------------------------------------------------------------
    devices = new LoopDevices(bed.work);
    const disk = await devices.create(32, 'dest');
    await execa('mkfs.ext4', ['-q', disk]);
    const frozenDest = path.join(bed.work, 'dest-frozen');
    await devices.mount(disk, frozenDest);
    const blockedHost = 'blocked@lvm';
    const blockedJob = await queueBackup(blockedHost, 'volume-slow-blocked');
    const stopTimeoutS = 2;
    const graceS = abortGraceMs(stopTimeoutS) / 1000;
    const a3 = await startAgent({
      hosts: [blockedHost],
      dest: frozenDest,
      runDir,
      args: [
        '--poll-seconds',
        '1',
        '--lease-seconds',
        '60',
        '--stop-timeout',
        String(stopTimeoutS),
      ],
      env: { CLB_FAKE_SLOW_MS: '4000' },
    });
    // The snapshot phase starts once the work directory is made and proven writable (a
    // freeze before that blocks the probe write instead of the archive's).
    await waitUntil(
      'the blocked job to reach its snapshot',
      async () =>
        (await partials(frozenDest)).length === 1 &&
        (await eventsOf(blockedJob)).some(
          (e) => e.kind === 'backup.step' && e.message === 'snapshot',
        ),
      20_000,
    );
    await execa('fsfreeze', ['--freeze', frozenDest]);
    frozen = frozenDest;
    // The pretend snapshot takes 4 s; then the archive is written (and blocks).
    await waitUntil(
      'the archive phase',
      async () =>
        (await eventsOf(blockedJob)).some(
          (e) => e.kind === 'backup.step' && e.message === 'archive',
        ),
      20_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    const termAt = Date.now();
    a3.child.kill('SIGTERM');
    const releasedAfter =
      (await waitUntil(
        'the blocked job to be given back, with its event',
        async () =>
          (await job(blockedJob)).state === 'queued' &&
          (await eventsOf(blockedJob)).some((e) => e.kind === 'job.released'),
        (stopTimeoutS + graceS + SLACK_S) * 1000,
      )) / 1000;
    const released = (await eventsOf(blockedJob)).filter((e) => e.kind === 'job.released');
    expect(released).toHaveLength(1);
    expect(released[0]?.message).toMatch(/did not stop within 2 s of its abort/);
    // The process is still there (its write is blocked in the kernel) until the thaw.
    const thawAt = Date.now();
    await execa('fsfreeze', ['--unfreeze', frozenDest]);
    frozen = null;
    const blockedExit = await exitWithin(a3, 10_000);
    expect(blockedExit, `agent still running 10 s after the thaw: ${a3.stderr()}`).not.toBeNull();
    const goneAfterThaw = (Date.now() - thawAt) / 1000;
    // 1: the stop left a job behind.
    expect(blockedExit?.code).toBe(1);
    // A new agent reaps what the stopped one left and runs the job.
    const a4 = await startAgent({
      hosts: [blockedHost],
      dest: frozenDest,
      runDir,
      args: ['--poll-seconds', '1'],
      env: { CLB_FAKE_SLOW_MS: '10' },
    });
    await waitUntil(
      'the job to run again',
      async () => (await job(blockedJob)).state === 'succeeded',
      30_000,
    );
    a4.child.kill('SIGTERM');
    expect(await a4.exited).toBe(0);
    const kept = await partials(frozenDest);
    expect(kept).toEqual([]);
    expect(await readdir(path.join(frozenDest, 'volume-slow-blocked'))).toHaveLength(1);
    expect(await readdir(runDir)).toEqual([]);

    printFigures(
      'agent-stop',
      `refused-inserts: exit ${refusedExit?.seconds.toFixed(1)} s after SIGTERM (job of 3 s, stop timeout 60 s), job succeeded with its events refused; ` +
        `procfs-mkdir: ${procState.lastErrorCode}, exit ${procExit?.seconds.toFixed(1)} s after SIGTERM; ` +
        `blocked-write: job given back ${releasedAfter.toFixed(1)} s after SIGTERM (stop timeout ${stopTimeoutS} s + abort grace ${graceS} s), ` +
        `process gone ${goneAfterThaw.toFixed(1)} s after the thaw (exit ${String(blockedExit?.code)}), rerun succeeded; ` +
        `${kept.length} partial kept, 0 run directories left (termination to thaw ${((thawAt - termAt) / 1000).toFixed(1)} s)`,
    );
  }, 150_000);
});
