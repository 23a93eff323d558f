/**
 * The scheduler pass against a real Postgres: policies and errors recorded, due volumes
 * enqueued for their backend host once, blocked states skipped with a reason.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putVolume } from '../db/volume-fixtures.js';
import { runSchedulerPass } from '../../src/jobs/scheduler.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { NO_PROJECT_QUOTA } from '../../src/policy/project-quota.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';

let db: FreshDatabase;
const settings = {
  limits: DEFAULT_POLICY_LIMITS,
  timeZone: 'UTC',
  retryAfterSeconds: 3600,
  quota: NO_PROJECT_QUOTA,
};

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function volume(
  metadata: Record<string, string>,
  status = 'available',
  host = 'stor1@lvm#LVM',
): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    name: `v-${id.slice(0, 6)}`,
    projectId: 'p',
    status,
    sizeGb: 1,
    host,
    lvName: `volume-${id}`,
    metadata,
  });
  return id;
}

async function row(id: string) {
  const r = await db.pool.query<{
    policy: Record<string, unknown> | null;
    policy_error: string | null;
    next_due_at: Date | null;
    skip_reason: string | null;
  }>('SELECT policy, policy_error, next_due_at, skip_reason FROM volumes WHERE id = $1', [id]);
  return r.rows[0];
}

async function jobsOf(id: string) {
  const r = await db.pool.query<{
    backend_host: string;
    reason: string;
    lv_name: string;
    state: string;
  }>('SELECT backend_host, reason, lv_name, state FROM jobs WHERE volume_id = $1', [id]);
  return r.rows;
}

describe('runSchedulerPass', () => {
  it('enqueues a due volume once, routed to its backend host, and records its policy', async () => {
    const id = await volume(
      { backup: 'daily', 'backup:retention': 'last=3' },
      'in-use',
      'stor7@lvm#LVM',
    );
    const first = await runSchedulerPass(db.pool, settings);
    expect(first.enqueued).toBeGreaterThanOrEqual(1);
    expect(await jobsOf(id)).toEqual([
      { backend_host: 'stor7@lvm', reason: 'schedule', lv_name: `volume-${id}`, state: 'queued' },
    ]);
    const r = await row(id);
    expect(r?.policy).toMatchObject({ scheduleText: 'daily', retention: { keepLast: 3 } });
    expect(r?.policy_error).toBeNull();
    expect(r?.next_due_at).toBeInstanceOf(Date);

    const second = await runSchedulerPass(db.pool, settings);
    expect(second.enqueued).toBe(0);
    expect(await jobsOf(id)).toHaveLength(1);
  });

  it.each(['creating', 'deleting', 'error', 'maintenance'])(
    'skips a %s volume and records why',
    async (status) => {
      const id = await volume({ backup: 'daily' }, status);
      await runSchedulerPass(db.pool, settings);
      expect(await jobsOf(id)).toHaveLength(0);
      expect((await row(id))?.skip_reason).toContain(`status is "${status}"`);
    },
  );

  it('records a policy error and enqueues nothing', async () => {
    const id = await volume({ backup: 'daily', 'backup:exclude': '../../etc' });
    await runSchedulerPass(db.pool, settings);
    expect(await jobsOf(id)).toHaveLength(0);
    const r = await row(id);
    expect(r?.policy).toBeNull();
    expect(r?.policy_error).toMatch(/".." path segment/);
  });

  it('waits a full interval after a successful backup', async () => {
    const id = await volume({ backup: 'daily' });
    const done = new Date(Date.now() - 3600_000);
    await db.pool.query(
      `INSERT INTO backups (volume_id, status, reason, started_at, finished_at, manifest_path)
       VALUES ($1, 'succeeded', 'schedule', $2, $3, '/b/manifest.json')`,
      [id, new Date(done.getTime() - 60_000), done],
    );
    await runSchedulerPass(db.pool, settings);
    expect(await jobsOf(id)).toHaveLength(0);
    expect((await row(id))?.next_due_at?.getTime()).toBe(done.getTime() + 86_400_000);
  });

  it('clears the policy when the tag is removed', async () => {
    const id = await volume({ backup: 'weekly' });
    await runSchedulerPass(db.pool, settings);
    expect((await row(id))?.policy).not.toBeNull();
    await db.pool.query(`UPDATE volumes SET metadata = '{"other": "x"}' WHERE id = $1`, [id]);
    await runSchedulerPass(db.pool, settings);
    expect(await row(id)).toMatchObject({ policy: null, policy_error: null, next_due_at: null });
  });

  it('ignores deleted volumes', async () => {
    // Status stays `available`: only deleted_at says the volume is gone, so that is what
    // keeps it from being backed up (a live twin shows the pass would enqueue otherwise).
    const gone = await volume({ backup: 'daily' });
    const live = await volume({ backup: 'daily' });
    await db.pool.query(`UPDATE volumes SET deleted_at = now() WHERE id = $1`, [gone]);
    await runSchedulerPass(db.pool, settings);
    expect(await jobsOf(gone)).toHaveLength(0);
    expect(await jobsOf(live)).toHaveLength(1);
  });

  it('records every volume of a pass longer than one write chunk (1,100 volumes)', async () => {
    // Three kinds in turn across the 500-volume chunks: due, policy error, switched off.
    const kinds = ['daily', 'every 7 minutes', 'off'] as const;
    const ids: string[] = [];
    for (let i = 0; i < 1100; i += 1) ids.push(await volume({ backup: kinds[i % 3]! }));
    const r = await runSchedulerPass(db.pool, settings);
    const rows = await db.pool.query<{
      id: string;
      policy: unknown;
      policy_error: string | null;
      next_due_at: Date | null;
      jobs: string;
    }>(
      `SELECT v.id, v.policy, v.policy_error, v.next_due_at,
              (SELECT count(*) FROM jobs j WHERE j.volume_id = v.id) AS jobs
         FROM volumes v WHERE v.id = ANY($1::uuid[])`,
      [ids],
    );
    const byId = new Map(rows.rows.map((x) => [x.id, x]));
    ids.forEach((id, i) => {
      const x = byId.get(id)!;
      if (i % 3 === 0) {
        expect(x.policy).not.toBeNull();
        expect(x.next_due_at).not.toBeNull();
        expect(x.jobs).toBe('1');
      } else if (i % 3 === 1) {
        expect(x.policy_error).not.toBeNull();
        expect(x.jobs).toBe('0');
      } else {
        expect(x.policy).toBeNull();
        expect(x.policy_error).toBeNull();
        expect(x.jobs).toBe('0');
      }
    });
    expect(r.enqueued).toBe(367);
    expect(r.policyErrors).toBeGreaterThanOrEqual(367);
  });
});
