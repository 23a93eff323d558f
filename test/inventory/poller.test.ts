import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import type { AppError } from '../../src/errors.js';
import { CinderClient } from '../../src/openstack/cinder.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { InventoryPoller, pollInventory } from '../../src/inventory/poller.js';
import type { RowOf } from '../../src/db/row-fields.js';
import type { VolumeRecord } from '../../src/db/volume-batch.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { captureLogger } from '../openstack/capture-logger.js';

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000 };

let emu: OpenStackEmulator;
let db: FreshDatabase;
let session: KeystoneSession;
let cinder: CinderClient;

/** A whole row but the scheduler's columns. */
type Row = RowOf<Omit<VolumeRecord, 'policy' | 'policyError'>>;

async function row(id: string): Promise<Row | undefined> {
  const r = await db.pool.query<Row>('SELECT * FROM volumes WHERE id = $1', [id]);
  return r.rows[0];
}

async function counts(): Promise<{ live: number; deleted: number }> {
  const r = await db.pool.query<{ live: string; deleted: string }>(
    `SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live,
            count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM volumes`,
  );
  return { live: Number(r.rows[0]?.live), deleted: Number(r.rows[0]?.deleted) };
}

beforeAll(async () => {
  db = await freshDatabase();
  emu = await startOpenStackEmulator({ notifier: false });
  session = new KeystoneSession({
    credentials: await loadOpenStackCredentials({ env: emu.env() }),
    retry: FAST,
  });
  cinder = new CinderClient(session);
});

afterAll(async () => {
  await emu?.close();
  await db?.drop();
});

beforeEach(async () => {
  emu.control.clearFailures();
  for (const v of emu.control.volumes()) emu.control.deleteVolumeSilently(v.id);
  await db.pool.query('TRUNCATE volumes CASCADE');
});

describe('one poll', () => {
  it('brings a tagged, attached volume into the inventory with its metadata', async () => {
    const v = await emu.control.createVolume({
      name: 'db01-data',
      size: 20,
      bootable: true,
      volumeType: 'lvmdriver-1',
      host: 'stor1@lvm#LVM',
    });
    emu.control.setMetadata(v.id, { backup: 'daily', 'backup:retention': '7d' });
    await emu.control.attachVolume(v.id, '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b', {
      device: '/dev/vdb',
    });

    const result = await pollInventory({ pool: db.pool, cinder });
    expect(result).toMatchObject({ volumes: 1, inserted: 1, changed: 0, stale: 0, deleted: [] });
    const r = await row(v.id);
    expect(r).toMatchObject({
      name: 'db01-data',
      project_id: emu.credentials.projectId,
      status: 'in-use',
      size_gb: 20,
      host: 'stor1@lvm#LVM',
      backend_host: 'stor1@lvm',
      lv_name: `volume-${v.id}`,
      metadata: { backup: 'daily', 'backup:retention': '7d' },
      bootable: true,
      volume_type: 'lvmdriver-1',
      deleted_at: null,
    });
    expect(r?.attachments).toEqual([
      {
        server_id: '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b',
        attachment_id: v.attachments[0]?.attachmentId,
        device: '/dev/vdb',
        host_name: 'compute1',
      },
    ]);
    // Cinder's naive-UTC updated_at, read as UTC (not local time).
    expect(r?.cinder_updated_at?.getTime()).toBe(v.updatedAt?.getTime());
  });

  it('keeps polling when a tenant puts a NUL or a lone surrogate in a name or a tag', async () => {
    // Postgres text and jsonb cannot hold either: one such volume failed the whole poll.
    const plain = await emu.control.createVolume({ name: 'plain', metadata: { backup: 'daily' } });
    const odd = await emu.control.createVolume({
      name: 'db\u0000x',
      metadata: {
        backup: 'dai\u0000ly',
        'backup:exclude': '/var/cache/*\ud800',
        'note\u0000': '\udc00',
      },
    });
    const result = await pollInventory({ pool: db.pool, cinder });
    expect(result).toMatchObject({ volumes: 2, inserted: 2, skipped: [] });
    expect((await row(plain.id))?.metadata).toEqual({ backup: 'daily' });
    const r = await row(odd.id);
    expect(r?.name).toBe('db\u001ax');
    // NUL as SUBSTITUTE (still a control character for the policy), lone surrogates as U+FFFD.
    expect(r?.metadata).toEqual({
      backup: 'dai\u001aly',
      'backup:exclude': '/var/cache/*\ufffd',
      'note\u001a': '\ufffd',
    });
  });

  it('names the LV from name_id after a migration and reports the change', async () => {
    const v = await emu.control.createVolume({ name: 'moving' });
    await pollInventory({ pool: db.pool, cinder });
    const migrated = emu.control.migrateVolume(v.id, 'stor2@lvm#LVM');
    const result = await pollInventory({ pool: db.pool, cinder });
    expect(result.changed).toBe(1);
    expect(result.changedIds).toEqual([v.id]);
    expect(await row(v.id)).toMatchObject({
      lv_name: `volume-${migrated.nameId}`,
      backend_host: 'stor2@lvm',
    });
  });

  it('rolls the whole poll back when a statement after the upsert fails', async () => {
    // A row Cinder no longer lists, whose marking as deleted (the poll's last write) fails.
    const gone = randomUUID();
    await db.pool.query(
      `INSERT INTO volumes (id, project_id, status, size_gb, lv_name, seen_at)
       VALUES ($1, 'p', 'available', 1, $2, now() - interval '1 hour')`,
      [gone, `volume-${gone}`],
    );
    await db.pool.query(`
      CREATE FUNCTION test_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'deletion refused by the test'; END $$;
      CREATE TRIGGER test_refuse_delete BEFORE UPDATE ON volumes FOR EACH ROW
        WHEN (NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION test_refuse_delete();`);
    try {
      const v = await emu.control.createVolume({ name: 'rollback' });
      const err = (await pollInventory({ pool: db.pool, cinder }).catch(
        (e: unknown) => e,
      )) as Error;
      expect(err.message).toContain('deletion refused by the test');
      // The new volume's upsert, which ran first, was rolled back with the failed deletion.
      expect(await row(v.id)).toBeUndefined();
      expect(await counts()).toEqual({ live: 1, deleted: 0 });
    } finally {
      await db.pool.query(`DROP TRIGGER test_refuse_delete ON volumes;
                           DROP FUNCTION test_refuse_delete();`);
    }
  });
});

describe('2,000 volumes', () => {
  it('reconcile over several pages, deletions, additions and changes included', async () => {
    const projects = [emu.credentials.projectId, emu.credentials.demo.projectId];
    const tag: Record<string, string> = { backup: 'daily' };
    const seeded = emu.control.seedVolumes(2000, (i) => ({
      name: `vol-${i}`,
      projectId: projects[i % 2] ?? '',
      host: `stor${i % 4}@lvm#LVM`,
      metadata: i % 10 === 0 ? tag : {},
      createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000),
    }));
    const t0 = performance.now();
    const first = await pollInventory({ pool: db.pool, cinder, pageSize: 500 });
    const firstMs = performance.now() - t0;
    expect(first).toMatchObject({ volumes: 2000, pages: 5, inserted: 2000, deleted: [] });
    expect(await counts()).toEqual({ live: 2000, deleted: 0 });

    // Cinder changes behind our back: 150 deleted, 40 created, 25 tagged, 10 resized.
    const gone = seeded.filter((_, i) => i % 13 === 0).slice(0, 150);
    for (const v of gone) emu.control.deleteVolumeSilently(v.id);
    const added = emu.control.seedVolumes(40, (i) => ({ name: `new-${i}` }));
    const tagged = seeded.filter((_, i) => i % 13 === 1).slice(0, 25);
    for (const v of tagged) emu.control.setMetadata(v.id, { backup: 'weekly' });
    const resized = seeded.filter((_, i) => i % 13 === 2).slice(0, 10);
    for (const v of resized) await emu.control.resizeVolume(v.id, 5);

    const t1 = performance.now();
    const second = await pollInventory({ pool: db.pool, cinder, pageSize: 500 });
    const secondMs = performance.now() - t1;
    expect(second.volumes).toBe(1890);
    expect(second.pages).toBe(4);
    expect(second.inserted).toBe(40);
    expect(second.changed).toBe(35);
    expect(new Set(second.deleted)).toEqual(new Set(gone.map((v) => v.id)));
    expect(await counts()).toEqual({ live: 1890, deleted: 150 });
    for (const v of added) expect((await row(v.id))?.name).toBe(v.name);
    expect((await row(tagged[3]!.id))?.metadata).toEqual({ backup: 'weekly' });
    expect((await row(resized[0]!.id))?.size_gb).toBe(5);
    const gr = await row(gone[7]!.id);
    expect(gr?.deleted_at).not.toBeNull();
    expect(gr?.status).toBe('deleted');

    // A third poll with nothing changed writes no change.
    const third = await pollInventory({ pool: db.pool, cinder, pageSize: 1000 });
    expect(third).toMatchObject({ volumes: 1890, pages: 2, inserted: 0, changed: 0, deleted: [] });

    console.info(
      `[measure] 2,000-volume poll: ${firstMs.toFixed(0)} ms (fetch ${first.fetchMs} ms over ` +
        `${first.pages} pages of 500, write ${first.writeMs} ms); 1,890-volume re-poll with ` +
        `changes: ${secondMs.toFixed(0)} ms (fetch ${second.fetchMs}, write ${second.writeMs})`,
    );
  });
});

describe('failures', () => {
  it('re-authenticates when the token expires mid-poll and completes', async () => {
    emu.control.seedVolumes(120);
    await session.token();
    const before = session.authentications;
    let expired = false;
    emu.control.fail('cinder', {
      times: Infinity,
      // Expires every token just before the second page is served (never fails itself).
      match: (req) => {
        if (!expired && req.query.has('marker')) {
          expired = true;
          emu.control.expireAllTokens();
        }
        return false;
      },
    });
    const result = await pollInventory({ pool: db.pool, cinder, pageSize: 50 });
    expect(expired).toBe(true);
    expect(result.volumes).toBe(120);
    expect(session.authentications).toBe(before + 1);
    expect(await counts()).toEqual({ live: 120, deleted: 0 });
  });

  it('leaves the inventory intact with a clear error while Keystone is down', async () => {
    emu.control.seedVolumes(30);
    await pollInventory({ pool: db.pool, cinder });
    const own = new KeystoneSession({
      credentials: await loadOpenStackCredentials({ env: emu.env() }),
      retry: FAST,
    });
    await emu.control.down('keystone');
    try {
      const err = (await pollInventory({ pool: db.pool, cinder: new CinderClient(own) }).catch(
        (e: unknown) => e,
      )) as AppError;
      expect(err.code).toBe('OPENSTACK_UNAVAILABLE');
      expect(err.retryable).toBe(true);
      expect(err.message).toContain('inventory poll failed, inventory left unchanged');
      expect(err.message).toMatch(
        /keystone .* did not answer \(ECONNREFUSED\) \(gave up after 3 attempts\)/,
      );
    } finally {
      await emu.control.up('keystone');
    }
    expect(await counts()).toEqual({ live: 30, deleted: 0 });
    expect((await pollInventory({ pool: db.pool, cinder: new CinderClient(own) })).volumes).toBe(
      30,
    );
  });

  it('retries 5xx, 429 and a timeout, and writes nothing when a page keeps failing', async () => {
    emu.control.seedVolumes(60);
    emu.control.fail('cinder', { status: 503, times: 1 });
    emu.control.fail('cinder', { status: 429, times: 1, headers: { 'Retry-After': '0' } });
    emu.control.fail('cinder', { kind: 'timeout', times: 1 });
    const slowFast = new KeystoneSession({
      credentials: await loadOpenStackCredentials({ env: emu.env() }),
      retry: { ...FAST, attempts: 4, timeoutMs: 300 },
    });
    const ok = await pollInventory({
      pool: db.pool,
      cinder: new CinderClient(slowFast),
      pageSize: 25,
    });
    expect(ok.volumes).toBe(60);

    emu.control.deleteVolumeSilently(emu.control.volumes()[0]!.id);
    emu.control.fail('cinder', {
      status: 500,
      times: Infinity,
      match: (req) => req.query.has('marker'),
    });
    const err = (await pollInventory({ pool: db.pool, cinder, pageSize: 25 }).catch(
      (e: unknown) => e,
    )) as AppError;
    expect(err.code).toBe('OPENSTACK_UNAVAILABLE');
    expect(err.message).toContain('cinder answered 500');
    expect(await counts()).toEqual({ live: 60, deleted: 0 });
  });

  it('refuses to reconcile with non-admin credentials, which Cinder limits to one project', async () => {
    emu.control.seedVolumes(5);
    emu.control.seedVolumes(2, () => ({ projectId: emu.credentials.demo.projectId }));
    await pollInventory({ pool: db.pool, cinder });
    const d = emu.credentials.demo;
    const demo = new KeystoneSession({
      credentials: await loadOpenStackCredentials({
        env: {
          ...emu.env(),
          OS_USERNAME: d.username,
          OS_PASSWORD: d.password,
          OS_PROJECT_NAME: d.projectName,
        },
      }),
      retry: FAST,
    });
    const err = (await pollInventory({ pool: db.pool, cinder: new CinderClient(demo) }).catch(
      (e: unknown) => e,
    )) as AppError;
    expect(err.code).toBe('OPENSTACK_API_ERROR');
    expect(err.message).toContain('lack the admin role');
    expect(await counts()).toEqual({ live: 7, deleted: 0 });
  });

  it('lists again from the start when the marker volume is deleted mid-poll', async () => {
    const vols = emu.control.seedVolumes(30, (i) => ({
      createdAt: new Date(Date.UTC(2026, 1, 1) + i * 1000),
    }));
    let deleted = false;
    emu.control.fail('cinder', {
      times: Infinity,
      match: (req) => {
        if (!deleted && req.query.get('marker') === vols[9]!.id) {
          deleted = true;
          emu.control.deleteVolumeSilently(vols[9]!.id);
        }
        return false;
      },
    });
    const result = await pollInventory({ pool: db.pool, cinder, pageSize: 10 });
    expect(deleted).toBe(true);
    expect(result.volumes).toBe(29);
    expect(await counts()).toEqual({ live: 29, deleted: 0 });
  });
});

describe('mass deletions', () => {
  it('are held until the next poll confirms them', async () => {
    const vols = emu.control.seedVolumes(100);
    await pollInventory({ pool: db.pool, cinder });
    const gone = vols.slice(0, 60);
    for (const v of gone) emu.control.deleteVolumeSilently(v.id);
    const first = await pollInventory({ pool: db.pool, cinder });
    expect(first.deleted).toEqual([]);
    expect(first.heldDeletions.length).toBe(60);
    expect(await counts()).toEqual({ live: 100, deleted: 0 });
    const second = await pollInventory({
      pool: db.pool,
      cinder,
      confirmedDeletions: new Set(first.heldDeletions),
    });
    expect(new Set(second.deleted)).toEqual(new Set(gone.map((v) => v.id)));
    expect(await counts()).toEqual({ live: 40, deleted: 60 });
  });

  it('are dropped when the volumes come back (a Cinder hiccup)', async () => {
    const vols = emu.control.seedVolumes(50);
    const poller = new InventoryPoller({ pool: db.pool, cinder, intervalSeconds: 3600 });
    await poller.pollNow();
    const hidden = vols.slice(0, 30);
    for (const v of hidden) emu.control.deleteVolumeSilently(v.id);
    expect((await poller.pollNow()).heldDeletions.length).toBe(30);
    for (const v of hidden) emu.control.state.volumes.set(v.id, v);
    const back = await poller.pollNow();
    expect(back).toMatchObject({ deleted: [], heldDeletions: [] });
    expect(await counts()).toEqual({ live: 50, deleted: 0 });
    // Through the loop, a confirmed mass deletion is applied on the second poll.
    for (const v of hidden) emu.control.deleteVolumeSilently(v.id);
    expect((await poller.pollNow()).deleted).toEqual([]);
    expect((await poller.pollNow()).deleted.length).toBe(30);
  });
});

describe('events and polls', () => {
  it('does not overwrite or delete a row an event updated after its page was fetched', async () => {
    const v = await emu.control.createVolume({ name: 'before' });
    await pollInventory({ pool: db.pool, cinder });
    // What the notification consumer does with an event: seen_at is the event's time.
    await db.pool.query(`UPDATE volumes SET name = 'from-event', seen_at = now() WHERE id = $1`, [
      v.id,
    ]);
    await emu.control.updateVolume(v.id, { name: 'polled' });
    // Pages fetched a minute before the event.
    const pageTime = () => new Date(Date.now() - 60_000);
    const result = await pollInventory({ pool: db.pool, cinder, now: pageTime });
    expect(result.stale).toBe(1);
    expect((await row(v.id))?.name).toBe('from-event');
    emu.control.deleteVolumeSilently(v.id);
    const again = await pollInventory({ pool: db.pool, cinder, now: pageTime });
    expect(again.deleted).toEqual([]);
  });

  it('leaves the seen_at of a listed volume it cannot map, so later events are not stale', async () => {
    const v = await emu.control.createVolume({ name: 'unmappable' });
    // The consumer applied an event: the row is as of that event's time.
    const eventAt = new Date(Date.now() - 10_000);
    await pollInventory({ pool: db.pool, cinder });
    await db.pool.query(`UPDATE volumes SET seen_at = $2 WHERE id = $1`, [v.id, eventAt]);
    // Cinder lists it in a shape the poll cannot map (here: no tenant).
    const emuVolume = emu.control.volume(v.id);
    if (emuVolume === undefined) throw new Error('volume vanished');
    const projectId = emuVolume.projectId;
    emuVolume.projectId = '';
    try {
      const result = await pollInventory({ pool: db.pool, cinder });
      expect(result.skipped.map((s) => s.id)).toContain(v.id);
      expect(result.deleted).toEqual([]);
    } finally {
      emuVolume.projectId = projectId;
    }
    // Not gone, and its seen_at untouched: the next event (newer than the last) applies.
    const r = await row(v.id);
    expect(r?.deleted_at).toBeNull();
    expect(r?.seen_at.getTime()).toBe(eventAt.getTime());
  });

  it('rewrites a row whose seen_at a future-dated event pinned', async () => {
    const v = await emu.control.createVolume({ name: 'real', metadata: { backup: 'daily' } });
    await pollInventory({ pool: db.pool, cinder });
    // The attack before events were refused and clamped: a forged event dated 2099 set
    // backup=off and pinned the row, so every later view counted as older.
    await db.pool.query(
      `UPDATE volumes SET metadata = '{"backup": "off"}', seen_at = '2099-01-01Z' WHERE id = $1`,
      [v.id],
    );
    const result = await pollInventory({ pool: db.pool, cinder });
    expect(result.stale).toBe(0);
    const r = await db.pool.query<{ metadata: unknown; seen_at: Date }>(
      'SELECT metadata, seen_at FROM volumes WHERE id = $1',
      [v.id],
    );
    expect(r.rows[0]?.metadata).toEqual({ backup: 'daily' });
    expect(r.rows[0]?.seen_at.getTime()).toBeLessThanOrEqual(Date.now());
  });
});

describe('the poller loop and the volume lookup', () => {
  it('polls on start and at its interval, and logs a failed poll without throwing', async () => {
    emu.control.seedVolumes(3);
    const cap = captureLogger();
    let polled = 0;
    const poller = new InventoryPoller({
      pool: db.pool,
      cinder,
      intervalSeconds: 0.1,
      logger: cap.logger,
      onPolled: () => {
        polled += 1;
        return Promise.resolve();
      },
    });
    poller.start();
    try {
      for (let i = 0; i < 100 && poller.lastResult === null; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(poller.lastResult?.volumes).toBe(3);
      emu.control.fail('cinder', { status: 404, times: 1 });
      for (let i = 0; i < 100 && poller.lastError === null; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(poller.lastError?.code).toBe('OPENSTACK_API_ERROR');
      emu.control.seedVolumes(2);
      for (let i = 0; i < 100 && poller.lastResult?.volumes !== 5; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(poller.lastResult?.volumes).toBe(5);
    } finally {
      await poller.stop();
    }
    expect(cap.text()).toContain('inventory poll failed, inventory left unchanged');
    expect(polled).toBeGreaterThanOrEqual(2);
    expect(await counts()).toEqual({ live: 5, deleted: 0 });
  });

  it('serves the notification consumer a mapped volume, or null for a 404', async () => {
    const v = await emu.control.createVolume({ name: 'lookup', metadata: { backup: 'daily' } });
    emu.control.migrateVolume(v.id, 'stor9@lvm#LVM');
    const lookup = cinderVolumeLookup(cinder);
    const got = await lookup(v.id);
    expect(got).toMatchObject({
      id: v.id,
      host: 'stor9@lvm#LVM',
      nameId: emu.control.volume(v.id)?.nameId,
      metadata: { backup: 'daily' },
      bootable: false,
      volumeType: 'lvmdriver-1',
    });
    expect(await lookup('00000000-0000-4000-8000-000000000000')).toBeNull();
  });
});
