/**
 * A hostile storage-node agent: a real login role in `clb_agent`, mapped to its own host
 * only, tries to reach beyond it. Each attempt must fail (an error or zero rows) and leave
 * the other host's rows as they were; the agent's own path still works under the role.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentRole, unmappedHosts } from '../../src/db/agent-hosts.js';
import {
  recordBackupFailure,
  recordBackupSuccess,
  recordVerifyResult,
  startBackup,
} from '../../src/db/backups.js';
import { appendEvent } from '../../src/db/events.js';
import { migrate, assertSchemaCurrent } from '../../src/db/migrate.js';
import { getVolume, type Volume } from '../../src/db/volumes.js';
import type { Job } from '../../src/jobs/job.js';
import * as queue from '../../src/jobs/queue.js';
import { createAgentLogin, type AgentLogin } from './agent-login.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';
import { addVolume } from './volume-fixtures.js';

const OWN = 'own@lvm';
const OTHER = 'other@lvm';

let db: FreshDatabase;
let login: AgentLogin;
let controllerLogin: AgentLogin;
let agent: pg.Pool;
let ownVol: Volume;
let otherVol: Volume;
let otherJob: Job;
let otherBackupRow: number;

/** Postgres's answer to a statement the role may not run: its SQLSTATE. */
async function sqlState(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'no error';
}

// 42501 insufficient_privilege: a missing grant and a row-security WITH CHECK both say so.
const REFUSED = '42501';

beforeAll(async () => {
  db = await freshDatabase();
  login = await createAgentLogin(db, [OWN]);
  controllerLogin = await createAgentLogin(db, [], 'clb_controller');
  agent = new pg.Pool({ connectionString: login.url, max: 2 });
  agent.on('error', () => undefined);
  ownVol = await addVolume(db.pool, OWN);
  otherVol = await addVolume(db.pool, OTHER);
  const j = await queue.enqueueJob(db.pool, {
    kind: 'backup',
    volumeId: otherVol.id,
    backendHost: OTHER,
    lvName: otherVol.lvName,
    reason: 'test',
  });
  if (j === null) throw new Error('enqueue failed');
  otherJob = j;
  const b = await db.pool.query<{ id: string }>(
    `INSERT INTO backups (volume_id, status, reason, manifest_path, location)
     VALUES ($1, 'succeeded', 'test', '/backups/x/manifest.json', '/backups/x') RETURNING id`,
    [otherVol.id],
  );
  otherBackupRow = Number(b.rows[0]?.id);
});

afterAll(async () => {
  await agent?.end();
  await db?.drop();
  await login?.drop();
  await controllerLogin?.drop();
});

describe('a hostile agent role', () => {
  it('cannot enqueue a restore, for another host or for its own', async () => {
    for (const v of [otherVol, ownVol]) {
      const state = await sqlState(
        queue.enqueueJob(agent, {
          kind: 'restore',
          volumeId: v.id,
          backendHost: v.backendHost ?? '',
          lvName: v.lvName,
          reason: 'hostile',
          payload: { target: '/dev/sda' },
        }),
      );
      expect(state).toBe(REFUSED);
    }
    // Nor a backup or a verify: it queues only the prune after its own backup.
    expect(
      await sqlState(
        queue.enqueueJob(agent, {
          kind: 'backup',
          volumeId: ownVol.id,
          backendHost: OWN,
          lvName: ownVol.lvName,
          reason: 'hostile',
        }),
      ),
    ).toBe(REFUSED);
    // A prune claimed for its host but naming the other host's volume is refused too.
    expect(
      await sqlState(
        queue.enqueueJob(agent, {
          kind: 'prune',
          volumeId: otherVol.id,
          backendHost: OWN,
          lvName: otherVol.lvName,
          reason: 'hostile',
        }),
      ),
    ).toBe(REFUSED);
    const restores = await db.pool.query(`SELECT 1 FROM jobs WHERE kind <> 'backup'`);
    expect(restores.rowCount).toBe(0);
  });

  it("cannot claim, renew, finish, fail, release or cancel another host's job", async () => {
    const claimOthers = () =>
      queue.claimJobs(agent, { agentId: 'evil', hosts: [OTHER], limit: 10, leaseSeconds: 60 });
    expect(await claimOthers()).toEqual([]);
    // Even when the job is running under another agent's lapsed lease.
    await db.pool.query(
      `UPDATE jobs SET state = 'running', locked_by = 'honest', attempts = 1,
              lease_expires_at = now() - interval '1 minute' WHERE id = $1`,
      [otherJob.id],
    );
    expect(await claimOthers()).toEqual([]);
    expect(await queue.failLapsedJobs(agent, [OTHER])).toEqual([]);
    expect((await queue.renewLease(agent, otherJob.id, 'honest', 60)).held).toBe(false);
    expect(await queue.completeJob(agent, otherJob.id, 'honest', { forged: true })).toBe(false);
    expect(
      await queue.failJob(agent, otherJob.id, 'honest', {
        code: 'INTERNAL',
        message: 'forged',
        retryable: false,
        retryInSeconds: 0,
      }),
    ).toBeNull();
    expect(await queue.releaseJob(agent, otherJob.id, 'honest')).toBe(false);
    expect(await queue.markJobCancelled(agent, otherJob.id, 'honest')).toBe(false);
    const raw = await agent.query(`UPDATE jobs SET state = 'failed' WHERE id = $1`, [otherJob.id]);
    expect(raw.rowCount).toBe(0);
    expect(await sqlState(agent.query('DELETE FROM jobs'))).toBe(REFUSED);
    const after = await queue.getJob(db.pool, otherJob.id);
    expect(after).toMatchObject({ state: 'running', lockedBy: 'honest', result: null });
  });

  it('cannot move a job of its own host elsewhere or rewrite what it runs', async () => {
    const own = await queue.enqueueJob(db.pool, {
      kind: 'verify',
      volumeId: ownVol.id,
      backendHost: OWN,
      lvName: ownVol.lvName,
      reason: 'test',
    });
    const id = own?.id ?? 0;
    for (const set of [
      `backend_host = '${OTHER}'`,
      `kind = 'restore'`,
      `payload = '{"target": "/dev/sda"}'`,
      `volume_id = '${otherVol.id}'`,
      `lv_name = 'volume-other'`,
      'cancel_requested_at = NULL',
    ]) {
      expect(await sqlState(agent.query(`UPDATE jobs SET ${set} WHERE id = $1`, [id]))).toBe(
        REFUSED,
      );
    }
    await db.pool.query('DELETE FROM jobs WHERE id = $1', [id]);
  });

  it("cannot open, complete or alter a backup row of another host's volume", async () => {
    expect(
      await sqlState(
        startBackup(agent, {
          volumeId: otherVol.id,
          jobId: otherJob.id,
          node: 'evil',
          reason: 'x',
        }),
      ),
    ).toBe(REFUSED);
    // Its own volume but no backup job of it running: refused as well.
    expect(
      await sqlState(
        startBackup(agent, { volumeId: ownVol.id, jobId: null, node: 'evil', reason: 'x' }),
      ),
    ).toBe(REFUSED);
    await recordBackupFailure(agent, otherBackupRow, { code: 'INTERNAL', message: 'forged' });
    await recordVerifyResult(agent, otherBackupRow, { ok: false, error: 'forged' });
    const pruned = await agent.query('UPDATE backups SET pruned_at = now() WHERE id = $1', [
      otherBackupRow,
    ]);
    expect(pruned.rowCount).toBe(0);
    expect(
      await sqlState(
        agent.query('UPDATE backups SET volume_id = $2 WHERE id = $1', [otherBackupRow, ownVol.id]),
      ),
    ).toBe(REFUSED);
    const row = await db.pool.query(
      'SELECT status, error_code, verify_ok, pruned_at FROM backups WHERE id = $1',
      [otherBackupRow],
    );
    expect(row.rows[0]).toEqual({
      status: 'succeeded',
      error_code: null,
      verify_ok: null,
      pruned_at: null,
    });
  });

  it('reads nothing of the other host and nothing of the controller', async () => {
    expect(await getVolume(agent, otherVol.id)).toBeNull();
    expect((await getVolume(agent, ownVol.id))?.id).toBe(ownVol.id);
    expect((await agent.query('SELECT id FROM backups')).rowCount).toBe(0);
    const jobs = await agent.query<{ backend_host: string }>('SELECT backend_host FROM jobs');
    expect(jobs.rows.every((r) => r.backend_host === OWN)).toBe(true);
    for (const table of [
      'processed_notifications',
      'dead_notifications',
      'events',
      'backup_status',
      'backup_history',
      'backup_failures',
    ]) {
      expect(await sqlState(agent.query(`SELECT * FROM ${table}`)), table).toBe(REFUSED);
    }
    // Its mapping: only its own rows, and no way to add a host to it.
    const mapped = await agent.query<{ role_name: string }>('SELECT role_name FROM agent_hosts');
    expect(mapped.rows.map((r) => r.role_name)).toEqual([login.role]);
    expect(
      await sqlState(
        agent.query('INSERT INTO agent_hosts (role_name, backend_host) VALUES (current_user, $1)', [
          OTHER,
        ]),
      ),
    ).toBe(REFUSED);
    // Events: it may log about its own volumes only.
    expect(
      await sqlState(appendEvent(agent, { kind: 'backup.succeeded', volumeId: otherVol.id })),
    ).toBe(REFUSED);
  });
});

describe('an honest agent under its role', () => {
  it('claims its job, records the backup, queues its prune and finishes', async () => {
    await assertSchemaCurrent(agent);
    expect(unmappedHosts(await readAgentRole(agent), [OWN])).toEqual([]);
    expect(unmappedHosts(await readAgentRole(agent), [OWN, OTHER])).toEqual([OTHER]);
    expect((await readAgentRole(db.pool)).restricted).toBe(false);
    const queued = await queue.enqueueJob(db.pool, {
      kind: 'backup',
      volumeId: ownVol.id,
      backendHost: OWN,
      lvName: ownVol.lvName,
      reason: 'test',
    });
    const [job] = await queue.claimJobs(agent, {
      agentId: 'honest-own',
      hosts: [OWN],
      limit: 5,
      leaseSeconds: 60,
    });
    expect(job?.id).toBe(queued?.id);
    const id = job?.id ?? 0;
    expect((await queue.renewLease(agent, id, 'honest-own', 60)).held).toBe(true);
    await appendEvent(agent, { kind: 'job.claimed', volumeId: ownVol.id, jobId: id });
    const row = await startBackup(agent, {
      volumeId: ownVol.id,
      jobId: id,
      node: 'honest-own',
      reason: 'test',
    });
    await recordBackupSuccess(agent, row, {
      backupId: '20260101T000000Z-abcd',
      location: '/b',
      manifestPath: '/b/manifest.json',
      manifest: {},
      bytesRead: 1,
      bytesWritten: 1,
      throughputBytesPerS: 1,
      archives: [],
      consistency: 'crash',
      snapshotPeakPercent: null,
    });
    const prune = await queue.enqueueJob(agent, {
      kind: 'prune',
      volumeId: ownVol.id,
      backendHost: OWN,
      lvName: ownVol.lvName,
      reason: `after-backup:${id}`,
    });
    expect(prune?.kind).toBe('prune');
    expect(await queue.completeJob(agent, id, 'honest-own', { backupRowId: row })).toBe(true);
    const b = await db.pool.query('SELECT status FROM backups WHERE id = $1', [row]);
    expect(b.rows[0]).toEqual({ status: 'succeeded' });
  });
});

describe('the controller role and the migration', () => {
  it('lets the controller enqueue a restore and read the views', async () => {
    const c = new pg.Pool({ connectionString: controllerLogin.url, max: 1 });
    try {
      const j = await queue.enqueueJob(c, {
        kind: 'restore',
        volumeId: otherVol.id,
        backendHost: OTHER,
        lvName: otherVol.lvName,
        reason: 'operator',
        payload: { target: `/dev/cinder-volumes/${otherVol.lvName}` },
      });
      expect(j?.kind).toBe('restore');
      expect((await c.query('SELECT * FROM backup_history')).rowCount).toBeGreaterThan(0);
      expect((await c.query('SELECT * FROM backup_status')).rowCount).not.toBeNull();
    } finally {
      await c.end();
    }
  });

  it('runs again on a database of a cluster where the roles already exist', async () => {
    const roles = await db.pool.query(
      `SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('clb_agent', 'clb_controller')
        ORDER BY rolname`,
    );
    expect(roles.rows).toEqual([
      { rolname: 'clb_agent', rolcanlogin: false },
      { rolname: 'clb_controller', rolcanlogin: false },
    ]);
    const second = await freshDatabase({ migrated: false });
    try {
      const result = await migrate(second.pool);
      expect(result.applied).toContain('0005_roles.sql');
    } finally {
      await second.drop();
    }
  });
});
