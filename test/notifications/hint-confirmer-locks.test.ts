/**
 * The hint confirmer's round takes per-project quota locks (enqueue-backup.ts) for several
 * projects in one transaction, against a real Postgres. Two rounds (two controllers) whose
 * volumes span the same two projects in opposite orders must both commit: the round locks
 * its rows by volume id and then its projects by lock key, so neither can hold what the
 * other waits for. And a round that Postgres aborts anyway (40P01, forced here by a session
 * that locks the other way round) changes nothing: it is tried once more at once, and when
 * that is aborted too, it fails retryable and its hints are due again after 5 s.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsOf } from '../../src/config/settings.js';
import { projectQuotaOf } from '../../src/controller/controller-config.js';
import { lockProjectQuota } from '../../src/db/project-usage-lock.js';
import { recordVolumeHints } from '../../src/db/volume-hints.js';
import type { InventoryVolume } from '../../src/db/volumes.js';
import { isRetryable } from '../../src/errors.js';
import { HintConfirmer } from '../../src/notifications/hint-confirmer.js';
import type { Logger } from '../../src/log.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';
import { captureLogger } from '../openstack/capture-logger.js';

let db: FreshDatabase;
/** A quota every project here is far under: only its locks matter. */
const quota = projectQuotaOf(settingsOf({ CLB_MAX_PROJECT_BYTES: '1T' }));
const inCinder = new Map<string, InventoryVolume>();

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** A volume tagged to back up on detach, in the inventory and in "Cinder" alike. */
async function volume(id: string, projectId: string): Promise<void> {
  const metadata = { backup: 'daily', 'backup:on': 'detach' };
  const host = 'stor1@lvm#LVM';
  await putVolume(db.pool, {
    id,
    projectId,
    status: 'available',
    sizeGb: 1,
    host,
    lvName: `volume-${id}`,
    metadata,
  });
  inCinder.set(id, {
    id,
    name: null,
    projectId,
    status: 'available',
    sizeGb: 1,
    host,
    backendHost: 'stor1@lvm',
    nameId: null,
    lvName: `volume-${id}`,
    metadata,
    attachments: [],
    bootable: false,
    volumeType: null,
    cinderUpdatedAt: null,
  });
}

/** A detach of each volume, heard on the bus: a hint due now, with its backup trigger. */
async function detached(...ids: string[]): Promise<void> {
  const now = new Date();
  await recordVolumeHints(
    db.pool,
    ids.map((volumeId) => ({
      volumeId,
      eventType: 'volume.detach.end',
      eventAt: now,
      claims: { status: 'available' },
      triggers: [{ trigger: 'detach', eventType: 'volume.detach.end', eventAt: now.toISOString() }],
      events: 1,
      dueAt: new Date(now.getTime() - 1000),
    })),
  );
}

function confirmer(leaseSeconds = 60, logger?: Logger): HintConfirmer {
  return new HintConfirmer({
    ...(logger === undefined ? {} : { logger }),
    pool: db.pool,
    lookup: (id) => Promise.resolve(inCinder.get(id) ?? null),
    limits: DEFAULT_POLICY_LIMITS,
    concurrency: 1,
    ratePerSecond: 1000,
    leaseSeconds,
    quota,
  });
}

/** Waits (3 s at most) until `n` sessions of this database wait on a lock of `kind`. */
async function waiters(n: number, kind?: string): Promise<number> {
  let seen = 0;
  for (let i = 0; i < 150; i += 1) {
    const r = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND ($1::text IS NULL OR wait_event = $1)`,
      [kind ?? null],
    );
    seen = Number(r.rows[0]?.n);
    if (seen >= n) return seen;
    await new Promise((res) => setTimeout(res, 20));
  }
  return seen;
}

async function openJobs(ids: string[]): Promise<string[]> {
  const r = await db.pool.query<{ volume_id: string }>(
    `SELECT volume_id::text AS volume_id FROM jobs
      WHERE kind = 'backup' AND state IN ('queued', 'running') AND volume_id = ANY($1::uuid[])
      ORDER BY volume_id`,
    [ids],
  );
  return r.rows.map((x) => x.volume_id);
}

async function hintsLeft(ids: string[]): Promise<number> {
  const r = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM volume_hints WHERE volume_id = ANY($1::uuid[])`,
    [ids],
  );
  return Number(r.rows[0]?.n);
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );

/** What became of a round so far, and what its confirmer warned of (for a failure's diff). */
function watch(round: ReturnType<typeof settle<number>>, log: ReturnType<typeof captureLogger>) {
  let outcome: unknown = 'pending';
  void round.then((x) => {
    outcome = x.ok ? x.value : String((x.err as Error).message);
  });
  return (): { round: unknown; warned: unknown[] } => ({
    round: outcome,
    warned: log
      .lines()
      .filter((l) => l['level'] === 40)
      .map((l) => l['msg']),
  });
}

describe('the hint confirmer and the quota locks of several projects', () => {
  it('commits two rounds whose volumes span two projects in opposite orders', async () => {
    // Round one settles a1 (project P) and b1 (Q); round two b2 (Q) and a2 (P). A third
    // session holds the rows of b1 and a2, so each round has done its first volume when
    // both go on: taken one by one in that order, round one would hold P and want Q, round
    // two hold Q and want P.
    const a1 = '10000000-0000-4000-8000-000000000000';
    const b1 = '20000000-0000-4000-8000-000000000000';
    const b2 = '30000000-0000-4000-8000-000000000000';
    const a2 = '40000000-0000-4000-8000-000000000000';
    await volume(a1, 'proj-p');
    await volume(a2, 'proj-p');
    await volume(b1, 'proj-q');
    await volume(b2, 'proj-q');
    const gate: pg.PoolClient = await db.pool.connect();
    try {
      await gate.query('BEGIN');
      await gate.query('SELECT 1 FROM volumes WHERE id = ANY($1::uuid[]) FOR UPDATE', [[b1, a2]]);
      await detached(a1, b1);
      const c1 = confirmer();
      const c2 = confirmer();
      const one = settle(c1.round());
      expect(await waiters(1)).toBe(1);
      await detached(b2, a2);
      const two = settle(c2.round());
      expect(await waiters(2)).toBe(2);
      await gate.query('COMMIT');
      const [r1, r2] = await Promise.all([one, two]);
      expect(r1.ok ? null : r1.err).toBeNull();
      expect(r2.ok ? null : r2.err).toBeNull();
      expect([r1.ok && r1.value, r2.ok && r2.value]).toEqual([2, 2]);
      // Neither was aborted and tried again (a round retries a deadlock once, which would
      // hide one here).
      expect([c1.stats.settleRetries, c2.stats.settleRetries]).toEqual([0, 0]);
    } finally {
      await gate.query('ROLLBACK').catch(() => undefined);
      gate.release();
    }
    expect(await openJobs([a1, a2, b1, b2])).toEqual([a1, b1, b2, a2]);
    expect(await hintsLeft([a1, a2, b1, b2])).toBe(0);
  });

  it('tries a round that Postgres aborts (40P01) once more at once, and commits it whole', async () => {
    const c1 = '50000000-0000-4000-8000-000000000000';
    await volume(c1, 'proj-r');
    const log = captureLogger('info');
    const c = confirmer(60, log.logger);
    const gate: pg.PoolClient = await db.pool.connect();
    let r: Awaited<ReturnType<typeof settle<number>>>;
    try {
      // The gate holds proj-r's quota lock; the round locks c1's row, then waits for the
      // lock; the gate then asks for c1's row: a cycle. The gate waits 10 s before it looks
      // for one, so the round, which looks after 1 s, is the one aborted.
      await gate.query('BEGIN');
      await gate.query(`SET LOCAL deadlock_timeout = '10s'`);
      await lockProjectQuota(gate, 'proj-r');
      await detached(c1);
      const round = settle(c.round());
      const state = watch(round, log);
      expect(await waiters(1, 'advisory')).toBe(1);
      // Granted only once the round's transaction is gone (aborted).
      await gate.query('SELECT 1 FROM volumes WHERE id = $1 FOR UPDATE', [c1]);
      // The round's second try now waits for c1's row; its first left nothing behind.
      const waiting = await waiters(1);
      expect({ waiting, ...state() }).toEqual({
        waiting: 1,
        round: 'pending',
        warned: ['settling a round failed; trying it once more'],
      });
      expect(await openJobs([c1])).toEqual([]);
      expect(await hintsLeft([c1])).toBe(1);
      await gate.query('ROLLBACK');
      r = await round;
    } finally {
      await gate.query('ROLLBACK').catch(() => undefined);
      gate.release();
    }
    expect(r.ok ? null : r.err).toBeNull();
    expect(r.ok && r.value).toBe(1);
    expect(await openJobs([c1])).toEqual([c1]);
    expect(await hintsLeft([c1])).toBe(0);
    expect(c.stats.jobs).toBe(1);
    expect(c.stats.settleRetries).toBe(1);
  });

  it('gives up a round that Postgres aborts (40P01) twice whole, and hands its hints back after 5 s, not its lease', async () => {
    const d0 = '60000000-0000-4000-8000-000000000000';
    const d1 = '70000000-0000-4000-8000-000000000000';
    await volume(d0, 'proj-s');
    await volume(d1, 'proj-s');
    const log = captureLogger('info');
    const c = confirmer(60, log.logger);
    const gate: pg.PoolClient = await db.pool.connect();
    try {
      await gate.query('BEGIN');
      await gate.query(`SET LOCAL deadlock_timeout = '10s'`);
      await lockProjectQuota(gate, 'proj-s');
      await detached(d0, d1);
      const round = settle(c.round());
      const state = watch(round, log);
      // First try: the round holds d0's and d1's rows and waits for proj-s; the gate asks
      // for d1's row: a cycle, the round is aborted, the gate gets d1.
      expect(await waiters(1, 'advisory')).toBe(1);
      await gate.query('SELECT 1 FROM volumes WHERE id = $1 FOR UPDATE', [d1]);
      // Second try: the round locks d0 (id order) and waits for d1; the gate asks for d0:
      // a second cycle, and the round gives up.
      const waiting = await waiters(1);
      expect({ waiting, ...state() }).toEqual({
        waiting: 1,
        round: 'pending',
        warned: ['settling a round failed; trying it once more'],
      });
      const rowD0 = gate.query('SELECT 1 FROM volumes WHERE id = $1 FOR UPDATE', [d0]);
      const r = await round;
      expect(r.ok).toBe(false);
      const err = r.ok ? null : (r.err as { code?: string });
      expect(err?.code).toBe('40P01');
      expect(isRetryable(err)).toBe(true);
      await rowD0;
      await gate.query('ROLLBACK');
    } finally {
      await gate.query('ROLLBACK').catch(() => undefined);
      gate.release();
    }
    // Nothing of the aborted round stayed: no job, the hints still there with their
    // triggers, due again within 5 s (their lease was 60 s), with why.
    expect(await openJobs([d0, d1])).toEqual([]);
    expect(await hintsLeft([d0, d1])).toBe(2);
    const due = await db.pool.query<{ s: number; last_error: string | null }>(
      `SELECT extract(epoch FROM next_try_at - now())::float8 AS s, last_error
         FROM volume_hints WHERE volume_id = ANY($1::uuid[])`,
      [[d0, d1]],
    );
    expect(due.rows).toHaveLength(2);
    for (const row of due.rows) {
      expect(row.s).toBeGreaterThan(0);
      expect(row.s).toBeLessThanOrEqual(5);
      expect(row.last_error).toMatch(/^settling failed: deadlock detected/);
    }
    expect(await c.round()).toBe(0);
    // Once due, the next round does it all.
    await new Promise((res) => setTimeout(res, Math.max(...due.rows.map((x) => x.s)) * 1000 + 200));
    expect(await c.round()).toBe(2);
    expect(await openJobs([d0, d1])).toEqual([d0, d1]);
    expect(await hintsLeft([d0, d1])).toBe(0);
    expect(c.stats.jobs).toBe(2);
    expect(c.stats.settleRetries).toBe(1);
  });
});
