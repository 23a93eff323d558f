/**
 * The per-project quota holds whichever way backups are enqueued (issue 10): the scheduler's
 * pass, an event trigger and the API's back up now each race another over a real Postgres,
 * on connections of their own, for a project just under its quota (900 of 1000 bytes
 * stored) with two volumes, each of which alone would pass. Exactly one backup may be let
 * through: the first one's expected bytes (its volume's last backup) take the project to
 * its quota. event-quota-race.test.ts races two events the same way.
 *
 * Two kinds of race. Held open: an event's transaction enqueues and stays open, the other
 * path starts and must wait for the project's lock, then sees the first one's job. From a
 * gate: a third connection holds the project's lock while both paths start, then lets go,
 * so both run at once and only the lock orders them.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestBackup } from '../../src/api/job-requests.js';
import { settingsOf } from '../../src/config/settings.js';
import { projectQuotaOf } from '../../src/controller/controller-config.js';
import { lockProjectQuota } from '../../src/db/project-usage-lock.js';
import { getVolume } from '../../src/db/volumes.js';
import { enqueueEventBackup } from '../../src/jobs/enqueue-backup.js';
import { runSchedulerPass } from '../../src/jobs/scheduler.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { volumeWithStoredBackup } from '../db/volume-fixtures.js';

let db: FreshDatabase;
const quota = projectQuotaOf(settingsOf({ CLB_MAX_PROJECT_BYTES: '1000' }));
const settings = { limits: DEFAULT_POLICY_LIMITS, timeZone: 'UTC', retryAfterSeconds: 3600, quota };

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** A due volume of `projectId` holding one backup of `bytes` (test/db/volume-fixtures.ts). */
const volume = (projectId: string, bytes: number): Promise<string> =>
  volumeWithStoredBackup(db.pool, projectId, bytes, true);

/** A project storing 900 of its 1000 bytes in two volumes (600 and 300 bytes). */
async function project(): Promise<{ id: string; x: string; y: string }> {
  const id = `p-${randomUUID().slice(0, 8)}`;
  return { id, x: await volume(id, 600), y: await volume(id, 300) };
}

/** The volumes of `projectId` with an open backup job. */
async function openJobs(projectId: string): Promise<string[]> {
  const r = await db.pool.query<{ volume_id: string }>(
    `SELECT j.volume_id::text AS volume_id FROM jobs j JOIN volumes v ON v.id = j.volume_id
      WHERE v.project_id = $1 AND j.kind = 'backup' AND j.state IN ('queued', 'running')
      ORDER BY j.id`,
    [projectId],
  );
  return r.rows.map((x) => x.volume_id);
}

/** Waits (2 s at most) until `n` other sessions of this database wait on an advisory lock. */
async function advisoryWaiters(n: number): Promise<number> {
  let seen = 0;
  for (let i = 0; i < 100; i += 1) {
    const r = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND wait_event = 'advisory'`,
    );
    seen = Number(r.rows[0]?.n);
    if (seen >= n) return seen;
    await new Promise((res) => setTimeout(res, 20));
  }
  return seen;
}

const detach = (now: Date) => ({ trigger: 'detach' as const, eventAt: now, maxAgeSeconds: 3600 });

/** A tenant's back up now (the minimum interval and the quota apply). */
async function backUpNow(volumeId: string): Promise<unknown> {
  const v = await getVolume(db.pool, volumeId);
  if (v === null) throw new Error(`no volume ${volumeId}`);
  return requestBackup(db.pool, v, 'tenant', { minIntervalSeconds: 3600, quota });
}

/**
 * Enqueues an event-triggered backup of `volumeId` in a transaction left open, runs
 * `other`, and commits once `other` waits on the project's lock (or after 2 s).
 */
async function whileEventHeldOpen(
  volumeId: string,
  other: () => Promise<unknown>,
): Promise<{ other: PromiseSettledResult<unknown>; waited: number }> {
  const one: pg.PoolClient = await db.pool.connect();
  try {
    await one.query('BEGIN');
    const now = new Date();
    const first = await enqueueEventBackup(
      one,
      volumeId,
      'volume.detach.end',
      detach(now),
      now,
      settings,
    );
    expect(first.job).not.toBeNull();
    const otherP = other().then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    );
    const waited = await advisoryWaiters(1);
    await one.query('COMMIT');
    return { other: await otherP, waited };
  } finally {
    await one.query('ROLLBACK').catch(() => undefined);
    one.release();
  }
}

/** Runs `a` and `b` at once, both started while a third connection holds the project's lock. */
async function fromGate(
  projectId: string,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<{ settled: PromiseSettledResult<unknown>[]; waited: number }> {
  const gate = await db.pool.connect();
  try {
    await gate.query('BEGIN');
    await lockProjectQuota(gate, projectId);
    const both = Promise.allSettled([a(), b()]);
    const waited = await advisoryWaiters(2);
    await gate.query('ROLLBACK');
    return { settled: await both, waited };
  } finally {
    await gate.query('ROLLBACK').catch(() => undefined);
    gate.release();
  }
}

describe('the project quota against every enqueuer', () => {
  it('lets one scheduler pass enqueue only what fits, counting the jobs it enqueued', async () => {
    const p = await project();
    const pass = await runSchedulerPass(db.pool, settings);
    expect((await openJobs(p.id)).length).toBe(1);
    expect(pass).toMatchObject({ overQuota: 0, quotaHeld: 1 });
  });

  it('makes a scheduler pass wait for an event that holds the lock, and count its job', async () => {
    const p = await project();
    const r = await whileEventHeldOpen(p.x, () => runSchedulerPass(db.pool, settings));
    expect(r.other.status).toBe('fulfilled');
    expect(await openJobs(p.id)).toEqual([p.x]);
    expect(r.waited).toBe(1);
  });

  it('refuses a tenant back up now that waited for an event which took the room', async () => {
    const p = await project();
    const r = await whileEventHeldOpen(p.x, () => backUpNow(p.y));
    expect(await openJobs(p.id)).toEqual([p.x]);
    expect(r.other.status).toBe('rejected');
    const err = r.other.status === 'rejected' ? (r.other.reason as { code?: string }) : {};
    expect(err.code).toBe('QUOTA_EXCEEDED');
    expect(String((err as Error).message)).toMatch(
      /^project p-\w+ stores 1500 bytes .* at or over its quota of 1000 bytes.*; counted with 600 bytes its open backup jobs are expected to store$/,
    );
    expect(r.waited).toBe(1);
  });

  it('lets only one of a back up now and a scheduler pass through, started at once', async () => {
    const p = await project();
    const r = await fromGate(
      p.id,
      () => backUpNow(p.y),
      () => runSchedulerPass(db.pool, settings),
    );
    expect((await openJobs(p.id)).length).toBe(1);
    expect(r.waited).toBe(2);
  });

  it('lets only one of two back up nows (two controllers) through, started at once', async () => {
    const p = await project();
    const r = await fromGate(
      p.id,
      () => backUpNow(p.x),
      () => backUpNow(p.y),
    );
    expect((await openJobs(p.id)).length).toBe(1);
    expect(r.settled.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(r.waited).toBe(2);
  });

  it('lets only one backup through two scheduler passes (two leaders in a hand-over) at once', async () => {
    const p = await project();
    const r = await fromGate(
      p.id,
      () => runSchedulerPass(db.pool, settings),
      () => runSchedulerPass(db.pool, settings),
    );
    expect(r.settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
    expect((await openJobs(p.id)).length).toBe(1);
    expect(r.waited).toBe(2);
  });

  it('still lets a tenant back up now through when the project has room', async () => {
    const id = `p-${randomUUID().slice(0, 8)}`;
    const x = await volume(id, 100);
    const y = await volume(id, 100);
    await backUpNow(x);
    await backUpNow(y);
    expect(await openJobs(id)).toEqual([x, y]);
  });
});
