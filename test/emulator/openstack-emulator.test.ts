import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import axios, { type AxiosResponse } from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenStackEmulator, type OpenStackEmulator } from './openstack-emulator.js';

// The real notifications, copied into the repository (test/fixtures/cinder-notifications).
const FIXTURES = fileURLToPath(new URL('../fixtures/cinder-notifications', import.meta.url));
const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const http = axios.create({ validateStatus: () => true });

let emu: OpenStackEmulator;
const exchange = `clb-test-emulator-${randomBytes(4).toString('hex')}`;

async function adminToken(): Promise<string> {
  const c = emu.credentials;
  const res = await http.post(`${emu.keystoneUrl}/auth/tokens`, {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: c.username, domain: { name: 'Default' }, password: c.password } },
      },
      scope: { project: { name: c.projectName, domain: { id: 'default' } } },
    },
  });
  expect(res.status).toBe(201);
  return String(res.headers['x-subject-token']);
}

beforeAll(async () => {
  try {
    const conn = await amqp.connect(AMQP_URL);
    await conn.close();
  } catch (err) {
    throw new Error(`RabbitMQ must run at ${AMQP_URL} for the emulator tests`, { cause: err });
  }
  emu = await startOpenStackEmulator({
    notifier: { exchange, declareDefaultQueue: false },
    createDelayMs: 10,
  });
});

afterAll(async () => {
  await emu?.close();
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createChannel();
  await ch.deleteExchange(exchange);
  await conn.close();
});

describe('Keystone', () => {
  it('issues a token in X-Subject-Token with a catalog whose project id is substituted', async () => {
    const token = await adminToken();
    expect(token.length).toBeGreaterThan(20);
    const res = await http.post(`${emu.keystoneUrl}/auth/tokens`, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { id: emu.credentials.userId, password: emu.credentials.password } },
        },
        scope: { project: { id: emu.credentials.projectId } },
      },
    });
    expect(res.status).toBe(201);
    const body = res.data as {
      token: { expires_at: string; catalog: { type: string; endpoints: { url: string }[] }[] };
    };
    expect(body.token.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const v3 = body.token.catalog.find((s) => s.type === 'volumev3');
    expect(v3?.endpoints[0]?.url).toBe(`${emu.cinderUrl}/${emu.credentials.projectId}`);
    const bs = body.token.catalog.find((s) => s.type === 'block-storage');
    expect(bs?.endpoints[0]?.url).toBe(emu.cinderUrl);
  });

  it('refuses a wrong password and an application credential that asks for a scope', async () => {
    const bad = await http.post(`${emu.keystoneUrl}/auth/tokens`, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { id: emu.credentials.userId, password: 'nope' } },
        },
      },
    });
    expect(bad.status).toBe(401);
    expect((bad.data as { error: { title: string } }).error.title).toBe('Unauthorized');
    const scoped = await http.post(`${emu.keystoneUrl}/auth/tokens`, {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: {
            id: emu.credentials.applicationCredentialId,
            secret: emu.credentials.applicationCredentialSecret,
          },
        },
        scope: { project: { id: emu.credentials.projectId } },
      },
    });
    expect(scoped.status).toBe(401);
  });

  it('answers 401 to a token once it has expired', async () => {
    const token = await adminToken();
    const ok = await http.get(`${emu.cinderUrl}/volumes`, { headers: { 'X-Auth-Token': token } });
    expect(ok.status).toBe(200);
    emu.control.expireAllTokens();
    const res = await http.get(`${emu.cinderUrl}/volumes`, { headers: { 'X-Auth-Token': token } });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Keystone uri=');
  });
});

describe('Cinder', () => {
  it('pages by marker with volumes_links while pages are full, so the last page can be empty', async () => {
    const seeded = emu.control.seedVolumes(20, (i) => ({ name: `page-${i}` }));
    const token = await adminToken();
    const seen: string[] = [];
    let url: string | null =
      `${emu.cinderUrl}/volumes/detail?all_tenants=1&limit=10&status=available`;
    let pages = 0;
    let lastPageSize = -1;
    while (url !== null) {
      const res: AxiosResponse = await http.get(url, {
        headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': 'volume 3.71' },
      });
      expect(res.status).toBe(200);
      expect(res.headers['openstack-api-version']).toBe('volume 3.71');
      const body = res.data as { volumes: { id: string }[]; volumes_links?: { href: string }[] };
      seen.push(...body.volumes.map((v) => v.id));
      lastPageSize = body.volumes.length;
      url = body.volumes_links?.[0]?.href ?? null;
      pages += 1;
    }
    expect(new Set(seen)).toEqual(new Set(emu.control.volumes().map((v) => v.id)));
    expect(seen.length).toBe(seeded.length);
    expect(pages).toBe(3);
    expect(lastPageSize).toBe(0);
  });

  it('shows host and name_id to admins only and ignores all_tenants for a member', async () => {
    const v = await emu.control.createVolume({ name: 'admin-only-fields' });
    emu.control.migrateVolume(v.id, 'stor2@lvm#LVM');
    const token = await adminToken();
    const res = await http.get(`${emu.cinderUrl}/volumes/${v.id}`, {
      headers: { 'X-Auth-Token': token },
    });
    const vol = (res.data as { volume: Record<string, unknown> }).volume;
    expect(vol['os-vol-host-attr:host']).toBe('stor2@lvm#LVM');
    expect(vol['os-vol-mig-status-attr:name_id']).toBe(emu.control.volume(v.id)?.nameId);
    expect(vol['bootable']).toBe('false');
    expect(vol['volume_type_id']).toBeUndefined(); // 3.0 without the header

    const d = emu.credentials.demo;
    const login = await http.post(`${emu.keystoneUrl}/auth/tokens`, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: d.username, domain: { id: 'default' }, password: d.password } },
        },
        scope: { project: { name: d.projectName, domain: { name: 'Default' } } },
      },
    });
    const demoToken = String(login.headers['x-subject-token']);
    await emu.control.createVolume({ name: 'demo-vol', projectId: d.projectId });
    const list = await http.get(`${emu.cinderUrl}/volumes/detail?all_tenants=1`, {
      headers: { 'X-Auth-Token': demoToken },
    });
    const vols = (list.data as { volumes: Record<string, unknown>[] }).volumes;
    expect(vols.map((x) => x['name'])).toEqual(['demo-vol']);
    expect(vols[0]?.['os-vol-host-attr:host']).toBeUndefined();
    const other = await http.get(`${emu.cinderUrl}/volumes/${v.id}`, {
      headers: { 'X-Auth-Token': demoToken },
    });
    expect(other.status).toBe(404);
    expect(other.data).toEqual({
      itemNotFound: { message: `Volume ${v.id} could not be found.`, code: 404 },
    });
  });

  it('refuses an unsupported microversion and a foreign project id in the URL', async () => {
    const token = await adminToken();
    const tooNew = await http.get(`${emu.cinderUrl}/volumes`, {
      headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': 'volume 3.99' },
    });
    expect(tooNew.status).toBe(406);
    const foreign = await http.get(`${emu.cinderUrl}/${emu.credentials.demo.projectId}/volumes`, {
      headers: { 'X-Auth-Token': token },
    });
    expect(foreign.status).toBe(400);
  });

  it('filters on updated_at with 3.60 comparison operators; ignores them before 3.60; has no changes-since', async () => {
    const made: string[] = [];
    for (const n of ['t1', 't2', 't3']) {
      const v = await emu.control.createVolume({ name: `since-${n}` });
      emu.control.advanceClock(10_000);
      await emu.control.updateVolume(v.id, { name: `since-${n}-renamed` });
      made.push(v.id);
    }
    const at = made.map((id) => emu.control.volume(id)?.updatedAt?.toISOString() ?? '');
    const token = await adminToken();
    const listed = async (query: string, mv = '3.60') => {
      const res = await http.get(`${emu.cinderUrl}/volumes/detail?all_tenants=1&${query}`, {
        headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': `volume ${mv}` },
      });
      if (res.status !== 200) return res.status;
      const ids = (res.data as { volumes: { id: string }[] }).volumes.map((v) => v.id);
      return made.map((id, i) => (ids.includes(id) ? `t${i + 1}` : null)).filter((x) => x !== null);
    };
    const q = (v: string) => `updated_at=${encodeURIComponent(v)}`;
    // updated_at >= value, equality included, as Cinder's SQL filter compares.
    expect(await listed(q(`gte:${at[1]}`))).toEqual(['t2', 't3']);
    expect(await listed(q(`gt:${at[1]}`))).toEqual(['t3']);
    expect(await listed(q(`gte:${at[0]},lt:${at[2]}`))).toEqual(['t1', 't2']);
    // A time without a zone is UTC (parse_isotime).
    expect(await listed(q(`gte:${at[2]?.replace(/Z$/, '')}`))).toEqual(['t3']);
    // Before 3.60 Cinder drops the filter and lists everything.
    expect(await listed(q(`gte:${at[1]}`), '3.59')).toEqual(['t1', 't2', 't3']);
    expect(await listed(q(`after:${at[1]}`))).toBe(400);
    expect(await listed(q('gte:yesterday'))).toBe(400);
    // changes-since is not a volume filter: for an admin, an unknown key lists nothing.
    expect(await listed(`changes-since=${encodeURIComponent(at[1] ?? '')}`)).toEqual([]);
  });
});

describe('notifications', () => {
  it('publish the 2.0 envelope with the keys, order and formats of the real fixtures', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, exchange, 'notifications.info');
    const got: { key: string; body: string; contentType: unknown }[] = [];
    await ch.consume(
      q.queue,
      (m) => {
        if (m !== null) {
          got.push({
            key: m.fields.routingKey,
            body: m.content.toString('utf8'),
            contentType: m.properties.contentType,
          });
        }
      },
      { noAck: true },
    );

    const token = await adminToken();
    const v = await emu.control.createVolume({ name: 'notify-me', metadata: { backup: 'daily' } });
    // Metadata sub-resource: silent. PUT /volumes/{id}: update.start + update.end.
    const put = await http.post(
      `${emu.cinderUrl}/volumes/${v.id}/metadata`,
      { metadata: { a: 'b' } },
      { headers: { 'X-Auth-Token': token } },
    );
    expect(put.status).toBe(200);
    await http.put(
      `${emu.cinderUrl}/volumes/${v.id}`,
      { volume: { metadata: { backup: 'weekly' } } },
      { headers: { 'X-Auth-Token': token } },
    );
    await emu.control.attachVolume(v.id, '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b');
    for (let i = 0; i < 50 && got.length < 6; i++) await new Promise((r) => setTimeout(r, 20));
    await conn.close();

    const inner = got.map(
      (g) =>
        JSON.parse((JSON.parse(g.body) as Record<string, string>)['oslo.message'] ?? '') as Record<
          string,
          unknown
        >,
    );
    expect(inner.map((m) => m['event_type'])).toEqual([
      'volume.create.start',
      'volume.create.end',
      'volume.update.start',
      'volume.update.end',
      'volume.attach.start',
      'volume.attach.end',
    ]);
    expect(got.every((g) => g.key === 'notifications.info')).toBe(true);
    expect(got[0]?.contentType).toBe('application/json');

    const fixture = JSON.parse(
      readFileSync(`${FIXTURES}/0002-volume.create.end.json`, 'utf8'),
    ) as Record<string, string>;
    const real = JSON.parse(fixture['oslo.message'] ?? '') as Record<string, unknown>;
    const created = inner[1] as Record<string, unknown>;
    expect(Object.keys(created)).toEqual(Object.keys(real));
    expect(Object.keys(created['payload'] as object)).toEqual(
      Object.keys(real['payload'] as object),
    );
    expect(
      got[1]?.body.startsWith('{"oslo.version": "2.0", "oslo.message": "{\\"message_id\\": '),
    ).toBe(true);
    expect(created['timestamp']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/);
    expect(created['publisher_id']).toBe('volume.stor1@lvm#LVM');
    expect((created['payload'] as { metadata: unknown }).metadata).toEqual([
      { key: 'backup', value: 'daily' },
    ]);
    const updEnd = inner[3]?.['payload'] as { metadata: unknown };
    expect(updEnd.metadata).toEqual([{ key: 'backup', value: 'weekly' }]);
    const attachEnd = inner[5]?.['payload'] as { volume_attachment: Record<string, unknown>[] };
    expect(attachEnd.volume_attachment[0]?.['instance_uuid']).toBe(
      '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b',
    );
    expect(typeof attachEnd.volume_attachment[0]?.['connection_info']).toBe('string');
    expect(inner[5]?.['publisher_id']).toBe('volume.stor1@lvm');
  });

  it('sends resize, snapshot and delete payloads with the keys of the real ones', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, exchange, 'notifications.info');
    const got: Record<string, unknown>[] = [];
    await ch.consume(
      q.queue,
      (m) => {
        if (m === null) return;
        const env = JSON.parse(m.content.toString('utf8')) as Record<string, string>;
        got.push(JSON.parse(env['oslo.message'] ?? '') as Record<string, unknown>);
      },
      { noAck: true },
    );
    const v = await emu.control.createVolume({ name: 'lifecycle' });
    await emu.control.resizeVolume(v.id, 2);
    await emu.control.createSnapshot(v.id, 'snap');
    await emu.control.deleteVolume(v.id);
    for (let i = 0; i < 50 && got.length < 8; i++) await new Promise((r) => setTimeout(r, 20));
    await conn.close();

    const byType = new Map(got.map((m) => [m['event_type'] as string, m]));
    const real = (file: string) => {
      const env = JSON.parse(readFileSync(`${FIXTURES}/${file}`, 'utf8')) as Record<string, string>;
      return JSON.parse(env['oslo.message'] ?? '') as Record<string, unknown>;
    };
    const keys = (m: Record<string, unknown> | undefined) => Object.keys(m?.['payload'] ?? {});
    expect(keys(byType.get('volume.resize.start'))).toEqual(
      keys(real('0009-volume.resize.start.json')),
    );
    expect(keys(byType.get('snapshot.create.end'))).toEqual(
      keys(real('0006-snapshot.create.end.json')),
    );
    expect(keys(byType.get('volume.delete.end'))).toEqual(
      keys(real('0013-volume.delete.end.json')),
    );
    const resizeEnd = byType.get('volume.resize.end')?.['payload'] as { size: number };
    expect(resizeEnd.size).toBe(2);
    const del = byType.get('volume.delete.end');
    expect((del?.['payload'] as { status: string }).status).toBe('deleted');
    expect(del?.['publisher_id']).toBe('volume.stor1@lvm');
    expect(emu.control.volume(v.id)).toBeUndefined();
  });

  it('sends the scheduler failure to notifications.error and deletes unscheduled volumes from the API', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, exchange, 'notifications.*');
    const got: { key: string; m: Record<string, unknown> }[] = [];
    await ch.consume(
      q.queue,
      (msg) => {
        if (msg === null) return;
        const env = JSON.parse(msg.content.toString('utf8')) as Record<string, string>;
        got.push({
          key: msg.fields.routingKey,
          m: JSON.parse(env['oslo.message'] ?? '') as Record<string, unknown>,
        });
      },
      { noAck: true },
    );
    const v = await emu.control.createUnschedulableVolume({ name: 'nowhere' });
    await emu.control.deleteVolume(v.id);
    const ok = await emu.control.createVolume({ name: 'snappy' });
    const snap = await emu.control.createSnapshot(ok.id, 'snap');
    await emu.control.deleteSnapshot(snap);
    for (let i = 0; i < 50 && got.length < 9; i++) await new Promise((r) => setTimeout(r, 20));
    await conn.close();

    const real = (file: string) => {
      const env = JSON.parse(readFileSync(`${FIXTURES}/${file}`, 'utf8')) as Record<string, string>;
      return JSON.parse(env['oslo.message'] ?? '') as Record<string, unknown>;
    };
    const sched = got.find((g) => g.m['event_type'] === 'scheduler.create_volume');
    expect(sched?.key).toBe('notifications.error');
    expect(sched?.m['priority']).toBe('ERROR');
    const realSched = real('0015-scheduler.create_volume.json');
    const payloadOf = (m: Record<string, unknown> | undefined) =>
      (m?.['payload'] ?? {}) as Record<string, Record<string, unknown>>;
    expect(Object.keys(payloadOf(sched?.m))).toEqual(Object.keys(payloadOf(realSched)));
    expect(Object.keys(payloadOf(sched?.m)['request_spec'] ?? {})).toEqual(
      Object.keys(payloadOf(realSched)['request_spec'] ?? {}),
    );
    const delStart = got.find((g) => g.m['event_type'] === 'volume.delete.start');
    expect(delStart?.m['publisher_id']).toBe('volume.controller');
    expect((delStart?.m['payload'] as { status: string; host: unknown }).status).toBe('error');
    expect((delStart?.m['payload'] as { host: unknown }).host).toBeNull();
    const snapEnd = got.find((g) => g.m['event_type'] === 'snapshot.delete.end');
    expect(snapEnd?.m['payload']).toMatchObject({
      status: 'deleted',
      deleted: 'True',
      metadata: '',
    });
    expect(Object.keys(snapEnd?.m['payload'] as object)).toEqual(
      Object.keys(real('0008-snapshot.delete.end.json')['payload'] as object),
    );
  });
});
