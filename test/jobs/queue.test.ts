import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelJob,
  claimJobs,
  completeJob,
  enqueueJob,
  failJob,
  failLapsedJobs,
  getJob,
  markJobCancelled,
  releaseJob,
  renewLease,
} from '../../src/jobs/queue.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { addVolume } from '../db/volume-fixtures.js';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function job(host: string, kind: 'backup' | 'verify' = 'backup') {
  const v = await addVolume(db.pool, host);
  const j = await enqueueJob(db.pool, {
    kind,
    volumeId: v.id,
    backendHost: host,
    lvName: v.lvName,
    reason: 'manual',
  });
  if (j === null) throw new Error('enqueue returned null');
  return j;
}

/** Moves a job's lease into the past, as if its agent stopped renewing long ago. */
async function expireLease(id: number): Promise<void> {
  await db.pool.query(
    `UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
    [id],
  );
}

describe('the job queue', () => {
  it('keeps at most one open job of a kind per volume', async () => {
    const v = await addVolume(db.pool, 'key@lvm');
    const req = {
      kind: 'backup' as const,
      volumeId: v.id,
      backendHost: 'key@lvm',
      lvName: v.lvName,
      reason: 'schedule',
    };
    const first = await enqueueJob(db.pool, req);
    expect(first?.state).toBe('queued');
    expect(await enqueueJob(db.pool, req)).toBeNull();
    // Another kind for the same volume is its own key.
    expect(await enqueueJob(db.pool, { ...req, kind: 'verify' })).not.toBeNull();
    // Once the open job ends, the volume can be enqueued again.
    const [claimed] = await claimJobs(db.pool, {
      agentId: 'a1',
      hosts: ['key@lvm'],
      kinds: ['backup'],
      limit: 1,
      leaseSeconds: 30,
    });
    expect(claimed?.id).toBe(first?.id);
    expect(await enqueueJob(db.pool, req)).toBeNull();
    expect(await completeJob(db.pool, claimed?.id ?? 0, 'a1', { ok: true })).toBe(true);
    expect(await enqueueJob(db.pool, req)).not.toBeNull();
  });

  it('claims only jobs of the agent’s own hosts, oldest first, and not before run_at', async () => {
    const a = await job('only-a@lvm');
    const b = await job('only-b@lvm');
    const later = await enqueueJob(db.pool, {
      kind: 'backup',
      volumeId: (await addVolume(db.pool, 'only-a@lvm')).id,
      backendHost: 'only-a@lvm',
      lvName: 'volume-x',
      reason: 'schedule',
      runAt: new Date(Date.now() + 3_600_000),
    });
    const claimed = await claimJobs(db.pool, {
      agentId: 'agent-a',
      hosts: ['only-a@lvm'],
      limit: 10,
      leaseSeconds: 30,
    });
    expect(claimed.map((j) => j.id)).toEqual([a.id]);
    expect(claimed[0]).toMatchObject({ state: 'running', lockedBy: 'agent-a', attempts: 1 });
    expect((await getJob(db.pool, b.id))?.state).toBe('queued');
    expect((await getJob(db.pool, later?.id ?? 0))?.state).toBe('queued');
  });

  it('never hands the same job to two claimers that race', async () => {
    const host = 'race@lvm';
    for (let i = 0; i < 60; i += 1) await job(host);
    const pools = Array.from(
      { length: 6 },
      () => new pg.Pool({ connectionString: db.url, max: 1 }),
    );
    try {
      const claims = await Promise.all(
        pools.map(async (p, i) => {
          const got: number[] = [];
          for (;;) {
            const js = await claimJobs(p, {
              agentId: `racer-${i}`,
              hosts: [host],
              limit: 3,
              leaseSeconds: 30,
            });
            if (js.length === 0) return got;
            got.push(...js.map((j) => j.id));
          }
        }),
      );
      const all = claims.flat();
      expect(all.length).toBe(60);
      expect(new Set(all).size).toBe(60);
      // SKIP LOCKED spreads the work: more than one claimer got jobs.
      expect(claims.filter((c) => c.length > 0).length).toBeGreaterThan(1);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('lets another agent take a job whose lease lapsed, and fences the old holder out', async () => {
    const j = await job('lapse@lvm');
    const opts = { hosts: ['lapse@lvm'], limit: 1, leaseSeconds: 30 };
    const [first] = await claimJobs(db.pool, { ...opts, agentId: 'dead' });
    expect(first?.id).toBe(j.id);
    // Held: nobody else gets it.
    expect(await claimJobs(db.pool, { ...opts, agentId: 'other' })).toEqual([]);
    await expireLease(j.id);
    const [second] = await claimJobs(db.pool, { ...opts, agentId: 'other' });
    expect(second).toMatchObject({ id: j.id, lockedBy: 'other', attempts: 2 });
    // The old holder lost its lease: it can neither renew nor record an outcome.
    expect(await renewLease(db.pool, j.id, 'dead', 30)).toEqual({
      held: false,
      cancelRequested: false,
    });
    expect(await completeJob(db.pool, j.id, 'dead', {})).toBe(false);
    expect(await renewLease(db.pool, j.id, 'other', 30)).toEqual({
      held: true,
      cancelRequested: false,
    });
  });

  it('retries a retryable failure after the backoff and fails a permanent one at once', async () => {
    const r = await job('retry@lvm');
    const p = await job('retry@lvm');
    const claimed = await claimJobs(db.pool, {
      agentId: 'a',
      hosts: ['retry@lvm'],
      limit: 2,
      leaseSeconds: 30,
    });
    expect(claimed.length).toBe(2);
    const retry = await failJob(db.pool, r.id, 'a', {
      code: 'NO_SNAPSHOT_SPACE',
      message: 'vg full',
      retryable: true,
      retryInSeconds: 120,
    });
    expect(retry).toBe('queued');
    const permanent = await failJob(db.pool, p.id, 'a', {
      code: 'LV_NOT_FOUND',
      message: 'gone',
      retryable: false,
      retryInSeconds: 120,
    });
    expect(permanent).toBe('failed');
    const rj = await getJob(db.pool, r.id);
    expect(rj?.runAt.getTime()).toBeGreaterThan(Date.now() + 100_000);
    expect(rj).toMatchObject({ lastErrorCode: 'NO_SNAPSHOT_SPACE', lockedBy: null });
    expect((await getJob(db.pool, p.id))?.finishedAt).not.toBeNull();
    // Not claimable during the backoff.
    expect(
      await claimJobs(db.pool, { agentId: 'a', hosts: ['retry@lvm'], limit: 5, leaseSeconds: 30 }),
    ).toEqual([]);
  });

  it('fails a retryable error for good once the attempts are used up', async () => {
    const v = await addVolume(db.pool, 'max@lvm');
    const j = await enqueueJob(db.pool, {
      kind: 'backup',
      volumeId: v.id,
      backendHost: 'max@lvm',
      lvName: v.lvName,
      reason: 'manual',
      maxAttempts: 2,
    });
    const states: (string | null)[] = [];
    for (let i = 0; i < 2; i += 1) {
      await db.pool.query('UPDATE jobs SET run_at = now() WHERE id = $1', [j?.id]);
      const [c] = await claimJobs(db.pool, {
        agentId: 'a',
        hosts: ['max@lvm'],
        limit: 1,
        leaseSeconds: 30,
      });
      expect(c?.id).toBe(j?.id);
      states.push(
        await failJob(db.pool, j?.id ?? 0, 'a', {
          code: 'DEST_FULL',
          message: 'full',
          retryable: true,
          retryInSeconds: 0,
        }),
      );
    }
    expect(states).toEqual(['queued', 'failed']);
  });

  it('ends a lapsed job that used its last attempt instead of running it again', async () => {
    const v = await addVolume(db.pool, 'last@lvm');
    const j = await enqueueJob(db.pool, {
      kind: 'backup',
      volumeId: v.id,
      backendHost: 'last@lvm',
      lvName: v.lvName,
      reason: 'manual',
      maxAttempts: 1,
    });
    await claimJobs(db.pool, { agentId: 'x', hosts: ['last@lvm'], limit: 1, leaseSeconds: 30 });
    await expireLease(j?.id ?? 0);
    expect(
      await claimJobs(db.pool, { agentId: 'y', hosts: ['last@lvm'], limit: 1, leaseSeconds: 30 }),
    ).toEqual([]);
    const ended = await failLapsedJobs(db.pool, ['last@lvm']);
    expect(ended.map((e) => [e.id, e.state, e.lastErrorCode])).toEqual([
      [j?.id, 'failed', 'LEASE_EXPIRED'],
    ]);
  });

  it('releases a job on shutdown without counting the attempt', async () => {
    const j = await job('release@lvm');
    await claimJobs(db.pool, { agentId: 'a', hosts: ['release@lvm'], limit: 1, leaseSeconds: 30 });
    expect(await releaseJob(db.pool, j.id, 'a')).toBe(true);
    const after = await getJob(db.pool, j.id);
    expect(after).toMatchObject({ state: 'queued', attempts: 0, lockedBy: null });
  });

  it('cancels a queued job at once and flags a running one for its agent', async () => {
    const queued = await job('cancel@lvm');
    const running = await job('cancel@lvm', 'verify');
    await db.pool.query(`UPDATE jobs SET run_at = now() + interval '1 hour' WHERE id = $1`, [
      queued.id,
    ]);
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const hints: string[] = [];
    listener.on('notification', (n) => hints.push(n.payload ?? ''));
    await listener.query('LISTEN clb_job_cancel');
    try {
      await claimJobs(db.pool, { agentId: 'a', hosts: ['cancel@lvm'], limit: 5, leaseSeconds: 30 });
      expect((await cancelJob(db.pool, queued.id))?.state).toBe('cancelled');
      const flagged = await cancelJob(db.pool, running.id);
      expect(flagged?.state).toBe('running');
      expect(flagged?.cancelRequestedAt).not.toBeNull();
      expect(await renewLease(db.pool, running.id, 'a', 30)).toEqual({
        held: true,
        cancelRequested: true,
      });
      expect(await markJobCancelled(db.pool, running.id, 'a')).toBe(true);
      expect((await getJob(db.pool, running.id))?.state).toBe('cancelled');
      // Cancelling an ended job changes nothing; an unknown job is null.
      expect((await cancelJob(db.pool, running.id))?.state).toBe('cancelled');
      expect(await cancelJob(db.pool, 987654321)).toBeNull();
      await new Promise((r) => setTimeout(r, 100));
      expect(hints).toEqual([String(running.id)]);
    } finally {
      await listener.end();
    }
  });

  it('wakes listeners of a host with NOTIFY when a job is enqueued', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const hints: string[] = [];
    listener.on('notification', (n) => hints.push(n.payload ?? ''));
    await listener.query('LISTEN clb_jobs');
    try {
      await job('notify@lvm');
      await new Promise((r) => setTimeout(r, 100));
      expect(hints).toContain('notify@lvm');
    } finally {
      await listener.end();
    }
  });
});

describe('fair claims across projects', () => {
  async function projectJobs(host: string, projectId: string, n: number): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = await addVolume(db.pool, host, { projectId });
      const j = await enqueueJob(db.pool, {
        kind: 'backup',
        volumeId: v.id,
        backendHost: host,
        lvName: v.lvName,
        reason: 'schedule',
        // Project A's jobs are all older: oldest-first alone would hand A every slot.
        runAt: new Date(Date.now() - (projectId === 'tenant-a' ? 3600_000 : 60_000) + i),
      });
      if (j === null) throw new Error('enqueue returned null');
      ids.push(j.id);
    }
    return ids;
  }
  const claim = (host: string, agentId: string, limit: number) =>
    claimJobs(db.pool, { agentId, hosts: [host], limit, leaseSeconds: 60 });

  it("does not let one project's many volumes starve another's on the same host", async () => {
    const host = 'fair@lvm';
    const a = await projectJobs(host, 'tenant-a', 50);
    const b = await projectJobs(host, 'tenant-b', 2);
    // Two slots: one each, although all 50 of A's jobs are older than B's.
    const first = await claim(host, 'agent-1', 2);
    expect(first.map((j) => j.id).sort()).toEqual([a[0], b[0]].sort());
    // A slot frees (B's backup ends); A still runs one: B's next job goes first.
    expect(await completeJob(db.pool, b[0] as number, 'agent-1', {})).toBe(true);
    const second = await claim(host, 'agent-1', 1);
    expect(second.map((j) => j.id)).toEqual([b[1]]);
    // B has nothing left queued: A's jobs follow in their order.
    const third = await claim(host, 'agent-1', 3);
    expect(third.map((j) => j.id)).toEqual([a[1], a[2], a[3]]);
  });
});
