/**
 * The /v1 routes' behaviour beyond authorization: what lists show and hide, filters and
 * pages, back up now (one job, however many ask at once), the manifest summary, verify and
 * restore refusals, cancel, and request validation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { markBackupPruned } from '../../src/db/backups.js';
import { claimJobs, completeJob } from '../../src/jobs/queue.js';
import { addFailedBackup, addGoodBackup } from './backup-fixtures.js';
import { useApiTestbed } from './api-testbed.js';
import { buildApiServer } from '../../src/api/api-server.js';
import { readinessProbe } from '../../src/api/readiness.js';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { clientsFromEnv } from '../openstack/clients-from-env.js';

const tb = useApiTestbed();
let alice = '';
let bob = '';
let ada = '';

interface VolumeBody {
  id: string;
  name: string;
  project_id: string;
  host: string | null;
  last_status: string | null;
  overdue: boolean;
  backups_kept: number;
  bytes_kept: number;
  last_error: { code: string } | null;
}
interface ListBody {
  volumes: VolumeBody[];
  volumes_links: { rel: string; href: string }[];
  count?: number;
}
interface JobBody {
  job: { id: number; state: string; kind: string; cancel_requested_at: string | null };
  created: boolean;
}

beforeAll(async () => {
  alice = await tb.alice.token();
  bob = await tb.bob.token();
  ada = await tb.ada.token();
});

const get = (url: string, token: string) =>
  tb.app.inject({ method: 'GET', url, headers: { 'x-auth-token': token } });
const post = (url: string, token: string, payload?: Record<string, unknown>) =>
  tb.app.inject({
    method: 'POST',
    url,
    headers: { 'x-auth-token': token },
    ...(payload === undefined ? {} : { payload }),
  });

describe('GET /v1/volumes', () => {
  it('lists the caller project’s tagged volumes only, in lists and counts alike', async () => {
    const a1 = await tb.addVolume(tb.projectA, { name: 'a-web' });
    const a2 = await tb.addVolume(tb.projectA, {
      name: 'a-db',
      policy: null,
      policyError: 'backup:retension is not a key',
    });
    await tb.addVolume(tb.projectA, { name: 'a-untagged', policy: null });
    const b1 = await tb.addVolume(tb.projectB, { name: 'b-secret' });

    const mine = (await get('/v1/volumes?with_count=true', alice)).json<ListBody>();
    const ids = mine.volumes.map((v) => v.id);
    expect(ids).toEqual(expect.arrayContaining([a1.id, a2.id]));
    expect(ids).not.toContain(b1.id);
    expect(mine.volumes.every((v) => v.project_id === tb.projectA)).toBe(true);
    expect(mine.volumes.map((v) => v.name)).not.toContain('a-untagged');
    expect(mine.count).toBe(mine.volumes.length);
    // Storage-node details are for admins.
    expect(mine.volumes.every((v) => v.host === null)).toBe(true);

    const theirs = (await get('/v1/volumes?with_count=true', bob)).json<ListBody>();
    expect(theirs.volumes.map((v) => v.id)).toEqual([b1.id]);
    expect(theirs.count).toBe(1);
    const all = await get('/v1/volumes?with_count=true&limit=1000', ada);
    expect(all.json<ListBody>().volumes.map((v) => v.id)).toEqual(
      expect.arrayContaining([a1.id, a2.id, b1.id]),
    );
    expect(all.json<ListBody>().volumes.find((v) => v.id === b1.id)?.host).toBe('stor1@lvm#LVM');
    // A member filtering by another project is refused without saying anything about it.
    const other = await get(`/v1/volumes?project_id=${tb.projectB}`, alice);
    expect(other.statusCode).toBe(403);
    expect(other.body).not.toContain('b-secret');
    expect((await get(`/v1/volumes?project_id=${tb.projectA}`, alice)).statusCode).toBe(200);
    const byAdmin = (await get(`/v1/volumes?project_id=${tb.projectB}`, ada)).json<ListBody>();
    expect(byAdmin.volumes.map((v) => v.id)).toEqual([b1.id]);
  });

  it('pages with limit and marker in id order, each volume once', async () => {
    const made = [];
    for (let i = 0; i < 7; i += 1)
      made.push((await tb.addVolume(tb.projectB, { name: `page-${i}` })).id);
    const seen: string[] = [];
    let url: string | null = `/v1/volumes?limit=3&project_id=${tb.projectB}`;
    let pages = 0;
    while (url !== null) {
      const page: ListBody = (await get(url, ada)).json<ListBody>();
      seen.push(...page.volumes.map((v) => v.id));
      url = page.volumes_links.find((l) => l.rel === 'next')?.href ?? null;
      pages += 1;
      expect(pages).toBeLessThan(10);
    }
    const expected = (await get(`/v1/volumes?limit=1000&project_id=${tb.projectB}`, ada))
      .json<ListBody>()
      .volumes.map((v) => v.id);
    expect(seen).toEqual(expected);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(made));
  });

  it('filters by the status of the last attempt and by overdue', async () => {
    const failed = await tb.addVolume(tb.projectA, { name: 'f-failed' });
    await addGoodBackup(tb.db.pool, failed.id);
    await addFailedBackup(tb.db.pool, failed.id);
    const stale = await tb.addVolume(tb.projectA, { name: 'f-stale' });
    const old = await addGoodBackup(tb.db.pool, stale.id);
    await tb.db.pool.query(
      `UPDATE backups SET started_at = now() - interval '3 days', finished_at = now() - interval '3 days' WHERE id = $1`,
      [old],
    );
    const fresh = await tb.addVolume(tb.projectA, { name: 'f-fresh' });
    await addGoodBackup(tb.db.pool, fresh.id);

    const failedList = (await get('/v1/volumes?status=failed', alice)).json<ListBody>();
    expect(failedList.volumes.map((v) => v.id)).toEqual([failed.id]);
    expect(failedList.volumes[0]?.last_error?.code).toBe('SNAPSHOT_OVERFLOW');
    const overdue = (await get('/v1/volumes?overdue=true', alice)).json<ListBody>();
    expect(overdue.volumes.map((v) => v.id)).toContain(stale.id);
    expect(overdue.volumes.map((v) => v.id)).not.toContain(fresh.id);
    const ok = (await get('/v1/volumes?status=succeeded&overdue=false', alice)).json<ListBody>();
    expect(ok.volumes.map((v) => v.id)).toContain(fresh.id);
    expect(ok.volumes.map((v) => v.id)).not.toContain(stale.id);
    const never = (await get('/v1/volumes?status=never', alice)).json<ListBody>();
    expect(never.volumes.every((v) => v.last_status === null)).toBe(true);
    const one = (await get(`/v1/volumes/${fresh.id}`, alice)).json<{ volume: VolumeBody }>();
    expect(one.volume).toMatchObject({ backups_kept: 1, bytes_kept: 120_000_812, overdue: false });
  });

  it('refuses unknown and malformed parameters', async () => {
    for (const url of [
      '/v1/volumes?limit=0',
      '/v1/volumes?limit=5000',
      // ajv coerces these to Infinity and skips its limits for them (a 500 from SQL once).
      '/v1/volumes?limit=1e309',
      '/v1/volumes?limit=Infinity',
      '/v1/volumes/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/backups?limit=1e400',
      // A percent-escape that does not decode is refused by the router, in the API's shape.
      '/v1/volumes/%E0%A4%A',
      '/v1/volumes?marker=nope',
      '/v1/volumes?status=great',
      '/v1/volumes?sort=name',
      '/v1/volumes/not-a-uuid',
      '/v1/backups/0',
      '/v1/jobs/abc',
    ]) {
      const res = await get(url, alice);
      expect(res.statusCode, url).toBe(400);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('POST /v1/volumes/{id}/backups', () => {
  it('two concurrent calls make exactly one job, and both answer it', async () => {
    for (let round = 0; round < 8; round += 1) {
      const v = await tb.addVolume(tb.projectA);
      const [r1, r2] = await Promise.all([
        post(`/v1/volumes/${v.id}/backups`, alice),
        post(`/v1/volumes/${v.id}/backups`, alice),
      ]);
      expect([r1.statusCode, r2.statusCode]).toEqual([202, 202]);
      const j1 = r1.json<JobBody>();
      const j2 = r2.json<JobBody>();
      expect(j1.job.id).toBe(j2.job.id);
      expect([j1.created, j2.created].sort()).toEqual([false, true]);
      const rows = await tb.db.pool.query('SELECT id FROM jobs WHERE volume_id = $1', [v.id]);
      expect(rows.rowCount).toBe(1);
    }
  });

  it('answers the open job while there is one, and a new job once it ended', async () => {
    const v = await tb.addVolume(tb.projectA, { host: 'stor9' });
    const first = (await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>();
    const again = (await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>();
    expect(again).toMatchObject({ created: false, job: { id: first.job.id, kind: 'backup' } });
    const claimed = await claimJobs(tb.db.pool, {
      agentId: 'agent-9',
      hosts: ['stor9@lvm'],
      limit: 1,
      leaseSeconds: 60,
    });
    expect(claimed.map((j) => j.id)).toEqual([first.job.id]);
    expect((await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>().job.id).toBe(
      first.job.id,
    );
    await completeJob(tb.db.pool, first.job.id, 'agent-9', {});
    const next = (await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>();
    expect(next.created).toBe(true);
    expect(next.job.id).not.toBe(first.job.id);
  });

  it("makes a tenant wait the minimum interval after the volume's last backup; not an admin", async () => {
    const v = await tb.addVolume(tb.projectA);
    const backupRow = await addGoodBackup(tb.db.pool, v.id);
    // The backup started 10 minutes ago; the minimum interval is 1 h (3600 s).
    await tb.db.pool.query(
      `UPDATE backups SET started_at = now() - interval '10 minutes' WHERE id = $1`,
      [backupRow],
    );
    const refused = await post(`/v1/volumes/${v.id}/backups`, alice);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(2900);
    expect(retryAfter).toBeLessThanOrEqual(3000);
    const jobs = await tb.db.pool.query('SELECT id FROM jobs WHERE volume_id = $1', [v.id]);
    expect(jobs.rowCount).toBe(0);

    // An operator with the admin role may back up now regardless.
    const byAdmin = await post(`/v1/volumes/${v.id}/backups`, ada);
    expect(byAdmin.statusCode).toBe(202);
    // While that job is open, the tenant is answered with it rather than refused.
    const joined = (await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>();
    expect(joined).toMatchObject({ created: false, job: { id: byAdmin.json<JobBody>().job.id } });

    // Once the last backup is older than the interval, the tenant may ask again.
    await tb.db.pool.query(`UPDATE jobs SET state = 'cancelled' WHERE volume_id = $1`, [v.id]);
    await tb.db.pool.query(
      `UPDATE backups SET started_at = now() - interval '61 minutes' WHERE id = $1`,
      [backupRow],
    );
    expect((await post(`/v1/volumes/${v.id}/backups`, alice)).statusCode).toBe(202);
  });

  it('refuses a volume whose metadata makes no policy, or that is not tagged', async () => {
    const broken = await tb.addVolume(tb.projectA, {
      policy: null,
      policyError: 'backup=sometimes',
    });
    const r = await post(`/v1/volumes/${broken.id}/backups`, alice);
    expect(r.statusCode).toBe(409);
    expect(r.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'POLICY_INVALID',
      message: expect.stringContaining('backup=sometimes') as unknown,
    });
    const untagged = await tb.addVolume(tb.projectA, { policy: null });
    expect((await post(`/v1/volumes/${untagged.id}/backups`, alice)).statusCode).toBe(409);
    const none = await tb.db.pool.query('SELECT 1 FROM jobs WHERE volume_id = ANY($1)', [
      [broken.id, untagged.id],
    ]);
    expect(none.rowCount).toBe(0);
  });

  it('refuses a JSON body it does not expect and an oversized one', async () => {
    const v = await tb.addVolume(tb.projectA);
    const odd = await post(`/v1/volumes/${v.id}/backups`, alice, { force: true });
    expect(odd.statusCode).toBe(400);
    const form = (payload: string) =>
      tb.app.inject({
        method: 'POST',
        url: `/v1/volumes/${v.id}/backups`,
        headers: { 'x-auth-token': alice, 'content-type': 'application/x-www-form-urlencoded' },
        payload,
      });
    // curl -d '' and axios send an empty form: that is no body; a real form is refused.
    expect((await form('')).statusCode).toBe(202);
    expect((await form('force=1')).statusCode).toBe(415);
    const big = await tb.app.inject({
      method: 'POST',
      url: `/v1/volumes/${v.id}/backups`,
      headers: { 'x-auth-token': alice, 'content-type': 'application/json' },
      payload: JSON.stringify({ pad: 'x'.repeat(64 * 1024) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json<{ error: { code: string } }>().error.code).toBe('REQUEST_TOO_LARGE');
  });
});

describe('backups, verify, restore, jobs', () => {
  it('shows a backup with a summary of its manifest', async () => {
    const v = await tb.addVolume(tb.projectA);
    const id = await addGoodBackup(tb.db.pool, v.id);
    const res = await get(`/v1/backups/${id}`, alice);
    expect(res.statusCode).toBe(200);
    const b = res.json<{ backup: Record<string, unknown> }>().backup;
    expect(b).toMatchObject({
      id,
      volume_id: v.id,
      status: 'succeeded',
      consistency: 'crash',
      bytes_stored: 120_000_812,
      node: null,
      location: null,
      manifest: {
        consistency: 'crash',
        partition_table: 'gpt',
        source_size_bytes: 1024 ** 3,
        head: { file: 'head.bin.zst', sha256: 'a'.repeat(64) },
        partitions: [
          {
            number: 1,
            filesystem: 'ext4',
            label: 'root',
            action: 'archived',
            used_bytes: 300_000_000,
            archive: { file: 'p1.tar.zst', bytes: 120_000_000, sha256: 'b'.repeat(64) },
          },
          { number: 2, filesystem: 'swap', action: 'skipped', reason: 'swap', archive: null },
        ],
        totals: { archived_bytes: 310_000_000, stored_bytes: 120_000_812, file_count: 5120 },
      },
    });
    const list = (await get(`/v1/volumes/${v.id}/backups`, alice)).json<{
      backups: { id: number }[];
    }>();
    expect(list.backups.map((x) => x.id)).toEqual([id]);
    const asAdmin = (await get(`/v1/backups/${id}`, ada)).json<{ backup: { node: string } }>();
    expect(asAdmin.backup.node).toBe('stor1-agent');
  });

  it('verifies a good backup once, refuses failed or pruned ones and a second backup meanwhile', async () => {
    const v = await tb.addVolume(tb.projectA);
    const good = await addGoodBackup(tb.db.pool, v.id);
    const other = await addGoodBackup(tb.db.pool, v.id);
    const failed = await addFailedBackup(tb.db.pool, v.id);
    const pruned = await addGoodBackup(tb.db.pool, v.id);
    await markBackupPruned(tb.db.pool, pruned, 'volume deleted 2026-10-01, grace 30 d');
    const shown = (await get(`/v1/backups/${pruned}`, alice)).json<{
      backup: { pruned_at: string | null; prune_reason: string | null };
    }>();
    expect(shown.backup.prune_reason).toBe('volume deleted 2026-10-01, grace 30 d');
    expect(shown.backup.pruned_at).not.toBeNull();
    const j = await post(`/v1/backups/${good}/verify`, alice);
    expect(j.statusCode).toBe(202);
    expect(j.json<JobBody>().job.kind).toBe('verify');
    expect((await post(`/v1/backups/${good}/verify`, alice)).json<JobBody>()).toMatchObject({
      created: false,
      job: { id: j.json<JobBody>().job.id },
    });
    const conflict = await post(`/v1/backups/${other}/verify`, alice);
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json<{ error: { code: string } }>().error.code).toBe('JOB_CONFLICT');
    for (const bad of [failed, pruned]) {
      const r = await post(`/v1/backups/${bad}/verify`, alice);
      expect(r.statusCode).toBe(409);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('BACKUP_NOT_USABLE');
    }
  });

  it('restores only to a volume Cinder reports fit, on the same storage host', async () => {
    const src = await tb.addVolume(tb.projectA, { sizeGb: 1 });
    const backup = await addGoodBackup(tb.db.pool, src.id, { sizeBytes: 2 * 1024 ** 3 });
    const cases: [string, Promise<{ id: string }>, number, string][] = [
      ['too small', tb.addVolume(tb.projectA, { sizeGb: 1 }), 409, 'TARGET_TOO_SMALL'],
      [
        'attached',
        tb.addVolume(tb.projectA, { sizeGb: 5, status: 'in-use' }),
        409,
        'TARGET_REFUSED',
      ],
      [
        'other host',
        tb.addVolume(tb.projectA, { sizeGb: 5, host: 'stor2' }),
        409,
        'TARGET_REFUSED',
      ],
      ['itself', Promise.resolve(src), 400, 'INVALID_ARGUMENT'],
      [
        'unknown',
        Promise.resolve({ id: '00000000-0000-4000-8000-000000000000' }),
        404,
        'VOLUME_NOT_FOUND',
      ],
    ];
    for (const [what, target, status, code] of cases) {
      const r = await post(`/v1/backups/${backup}/restore`, ada, {
        target_volume_id: (await target).id,
      });
      expect(r.statusCode, what).toBe(status);
      expect(r.json<{ error: { code: string } }>().error.code, what).toBe(code);
    }
    const fit = await tb.addVolume(tb.projectA, { sizeGb: 2 });
    const ok = await post(`/v1/backups/${backup}/restore`, ada, { target_volume_id: fit.id });
    expect(ok.statusCode).toBe(202);
    const job = await tb.db.pool.query<{ payload: Record<string, unknown> }>(
      'SELECT payload FROM jobs WHERE id = $1',
      [ok.json<JobBody>().job.id],
    );
    // The record the agent re-checks before it writes /dev/<its VG>/<lvName>.
    expect(job.rows[0]?.payload).toMatchObject({
      backupRowId: backup,
      targetVolume: {
        id: fit.id,
        lvName: fit.lvName,
        backendHost: 'stor1@lvm',
        status: 'available',
        attachments: 0,
      },
      // Held in Cinder's maintenance status until the job ends: nobody can attach it.
      targetMaintenance: { status: 'maintenance', previousStatus: 'available' },
    });
    expect(tb.emu.control.volume(fit.id)?.status).toBe('maintenance');
    // Asking again answers the open job and changes nothing more in Cinder.
    const resets = () =>
      tb.emu.control.requests('cinder').filter((r) => r.path.endsWith('/action')).length;
    const before = resets();
    const again = await post(`/v1/backups/${backup}/restore`, ada, { target_volume_id: fit.id });
    expect(again.statusCode).toBe(202);
    expect(again.json<JobBody>()).toMatchObject({
      created: false,
      job: { id: ok.json<JobBody>().job.id },
    });
    expect(resets()).toBe(before);
    // A volume Cinder sees attached now is refused even if the inventory says available.
    const stale = await tb.addVolume(tb.projectA, { sizeGb: 2 });
    await tb.emu.control.attachVolume(stale.id, '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b');
    const refused = await post(`/v1/backups/${backup}/restore`, ada, {
      target_volume_id: stale.id,
    });
    expect(refused.statusCode).toBe(409);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('TARGET_REFUSED');
    const missingBody = await post(`/v1/backups/${backup}/restore`, ada, {});
    expect(missingBody.statusCode).toBe(400);
  });

  it('refuses a restore Cinder will not hold in maintenance (502), leaving nothing held', async () => {
    const demo = tb.emu.credentials.demo;
    const adminClients = await clientsFromEnv(tb.emu.env());
    const memberClients = await clientsFromEnv({
      ...tb.emu.env(),
      OS_USERNAME: demo.username,
      OS_PASSWORD: demo.password,
      OS_PROJECT_NAME: demo.projectName,
    });
    // The same API, but its service user may read volumes and not reset their status.
    const app = await buildApiServer(
      { keystoneUrl: tb.emu.keystoneUrl },
      {
        db: tb.db.pool,
        tokens: tb.tokens,
        cinderLookup: cinderVolumeLookup(adminClients.cinder),
        cinderResetStatus: (id, status) => memberClients.cinder.resetStatus(id, status),
        readiness: readinessProbe([]),
      },
    );
    try {
      const src = await tb.addVolume(demo.projectId, { sizeGb: 1 });
      const backup = await addGoodBackup(tb.db.pool, src.id, { sizeBytes: 1024 ** 3 });
      const target = await tb.addVolume(demo.projectId, { sizeGb: 1 });
      const r = await app.inject({
        method: 'POST',
        url: `/v1/backups/${backup}/restore`,
        headers: { 'x-auth-token': ada },
        payload: { target_volume_id: target.id },
      });
      expect(r.statusCode).toBe(502);
      const error = r.json<{ error: { code: string; message: string } }>().error;
      expect(error.code).toBe('TARGET_MAINTENANCE_FAILED');
      expect(error.message).toContain('admin role');
      expect(tb.emu.control.volume(target.id)?.status).toBe('available');
      const open = await tb.db.pool.query(
        `SELECT 1 FROM jobs WHERE volume_id = $1 AND state IN ('queued', 'running')
         UNION ALL SELECT 1 FROM restore_target_holds WHERE volume_id = $2 AND released_at IS NULL`,
        [src.id, target.id],
      );
      expect(open.rowCount).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('cancels a queued job at once and asks a running one to stop', async () => {
    const v = await tb.addVolume(tb.projectA, { host: 'stor7' });
    const queued = (await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>().job;
    const c1 = await tb.app.inject({
      method: 'DELETE',
      url: `/v1/jobs/${queued.id}`,
      headers: { 'x-auth-token': alice },
    });
    expect(c1.statusCode).toBe(200);
    expect(c1.json<JobBody>().job.state).toBe('cancelled');
    const running = (await post(`/v1/volumes/${v.id}/backups`, alice)).json<JobBody>().job;
    await claimJobs(tb.db.pool, {
      agentId: 'a7',
      hosts: ['stor7@lvm'],
      limit: 1,
      leaseSeconds: 60,
    });
    const c2 = await tb.app.inject({
      method: 'DELETE',
      url: `/v1/jobs/${running.id}`,
      headers: { 'x-auth-token': alice },
    });
    expect(c2.statusCode).toBe(202);
    expect(c2.json<JobBody>().job).toMatchObject({ state: 'running' });
    expect(c2.json<JobBody>().job.cancel_requested_at).not.toBeNull();
    const seen = (await get(`/v1/jobs/${running.id}`, alice)).json<JobBody>();
    expect(seen.job.id).toBe(running.id);
  });

  it('answers 503 naming Keystone when it cannot validate a token, not 401', async () => {
    tb.tokens.clear();
    const fresh = await tb.alice.token();
    await tb.emu.control.down('keystone');
    try {
      const r = await get('/v1/volumes', fresh);
      expect(r.statusCode).toBe(503);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('OPENSTACK_UNAVAILABLE');
    } finally {
      await tb.emu.control.up('keystone');
    }
    expect((await get('/v1/volumes', fresh)).statusCode).toBe(200);
  });
});
