/**
 * The consumer against the real RabbitMQ and Postgres, in batches as the controller runs it
 * (the one-message path: consumer-retry.test.ts): real fixtures replayed, volume
 * events applied, backup:on=detach enqueues a job, the bad-message corpus dead-lettered
 * while later good messages apply, and a Ceilometer-like queue bound to the same exchange
 * still receives every message.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryVolume } from '../../src/db/volumes.js';
import { NotificationConsumer } from '../../src/notifications/consumer.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { badMessages } from './bad-messages.js';
import { batchConsumer, busNames, waitForValue as waitFor } from './bus-consumer.js';
import { AMQP_URL, deleteTopology, TestPublisher, volumeEvent } from './notification-builder.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/cinder-notifications/', import.meta.url));
const names = busNames('openstack');
const { exchange, queue, deadLetterQueue } = names;
const ceilometerQueue = `${queue}.ceilometer-stand-in`;

let db: FreshDatabase;
let publisher: TestPublisher;
let consumer: NotificationConsumer;
const fetched = new Map<string, InventoryVolume>();
let published = 0;

async function publish(bodies: Buffer[], key = 'notifications.info'): Promise<void> {
  await publisher.publish(bodies, key);
  published += bodies.length;
}

async function volumeRow(id: string) {
  const res = await db.pool.query<{
    status: string;
    size_gb: number;
    attachments: { server_id: string }[];
    volume_type: string | null;
    deleted_at: Date | null;
    lv_name: string;
    metadata: Record<string, string>;
    policy: { onEvents: string[] } | null;
    policy_error: string | null;
  }>('SELECT * FROM volumes WHERE id = $1', [id]);
  return res.rows[0];
}

async function processedCount(): Promise<number> {
  const res = await db.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM processed_notifications',
  );
  return Number(res.rows[0]?.n);
}

beforeAll(async () => {
  db = await freshDatabase();
  publisher = await TestPublisher.open(exchange);
  // Ceilometer's stand-in: a queue of its own on the same exchange and routing key.
  await publisher.channel.assertQueue(ceilometerQueue, { durable: false });
  await publisher.channel.bindQueue(ceilometerQueue, exchange, 'notifications.info');
  consumer = batchConsumer(db, names, {
    routingKeys: ['notifications.info', 'notifications.error'],
    prefetch: 16,
    // Batches as the controller runs them: several messages per transaction, one ack.
    batchSize: 8,
    batch: { lookup: (id) => Promise.resolve(fetched.get(id) ?? null) },
  });
  await consumer.start();
});

afterAll(async () => {
  await consumer?.stop();
  await publisher?.close();
  await deleteTopology(exchange, [queue, deadLetterQueue, ceilometerQueue]);
  await db?.drop();
});

describe('notification consumer', () => {
  it('refuses to consume the shared oslo queue', () => {
    expect(
      () =>
        new NotificationConsumer({
          url: AMQP_URL,
          exchanges: ['openstack'],
          queue: 'notifications.info',
          deadLetterQueue: 'x.dead',
          routingKeys: ['notifications.info'],
          prefetch: 1,
          handle: () => Promise.reject(new Error('unused')),
        }),
    ).toThrow(/shared oslo queue/);
  });

  it('replays the 37 real Cinder notifications into the inventory', async () => {
    const files = readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.json'))
      .sort();
    for (const f of files) {
      // scheduler.create_volume is ERROR priority: it travels on notifications.error.
      await publish(
        [readFileSync(FIXTURES + f)],
        f.includes('scheduler') ? 'notifications.error' : 'notifications.info',
      );
    }
    await waitFor('all fixtures processed', async () => (await processedCount()) === files.length);
    const first = await volumeRow('90df98db-d49e-4234-ad89-7f7340afb2c3');
    expect(first?.status).toBe('deleted');
    expect(first?.deleted_at).toBeInstanceOf(Date);
    const audited = await volumeRow('42feab26-ca6c-447b-98bf-59eb8fa76680');
    expect(audited?.metadata).toEqual({ backup: 'enabled' });
    expect(audited?.policy).not.toBeNull();
    const outcomes = await db.pool.query<{ outcome: string; n: string }>(
      'SELECT outcome, count(*) AS n FROM processed_notifications GROUP BY outcome ORDER BY outcome',
    );
    expect(outcomes.rows.map((r) => r.outcome)).toEqual(
      expect.arrayContaining(['applied', 'ignored']),
    );
    expect(consumer.stats.deadLettered).toBe(0);
  });

  it('applies attach, detach, resize, retype and delete; backup:on=detach enqueues a job on detach', async () => {
    const id = randomUUID();
    const server = randomUUID();
    const meta = { backup: 'daily', 'backup:on': 'detach' };
    // Event times just behind the clock: the refetch after the retype records "now".
    const t0 = Date.now() - 60_000;
    const at = (s: number): Date => new Date(t0 + s * 1000);
    await publish([
      volumeEvent({ eventType: 'volume.create.end', volumeId: id, at: at(0), metadata: meta }).body,
    ]);
    await waitFor('create applied', () => volumeRow(id));

    await publish([
      volumeEvent({
        eventType: 'volume.attach.end',
        volumeId: id,
        at: at(10),
        status: 'in-use',
        attachedTo: server,
        metadata: meta,
      }).body,
    ]);
    await waitFor('attach applied', async () => (await volumeRow(id))?.status === 'in-use');
    expect((await volumeRow(id))?.attachments).toEqual([
      {
        server_id: server,
        attachment_id: expect.any(String) as string,
        device: '/dev/vdb',
        host_name: 'compute1',
      },
    ]);
    const jobsBefore = await db.pool.query('SELECT * FROM jobs WHERE volume_id = $1', [id]);
    expect(jobsBefore.rowCount).toBe(0);

    await publish([
      volumeEvent({
        eventType: 'volume.detach.end',
        volumeId: id,
        at: at(20),
        status: 'available',
        metadata: meta,
      }).body,
    ]);
    const job = await waitFor('detach job', async () => {
      const r = await db.pool.query<{
        reason: string;
        backend_host: string;
        lv_name: string;
        kind: string;
      }>('SELECT * FROM jobs WHERE volume_id = $1', [id]);
      return r.rows[0];
    });
    expect(job).toMatchObject({
      kind: 'backup',
      reason: 'event:volume.detach.end',
      backend_host: 'stor1@lvm',
      lv_name: `volume-${id}`,
    });
    expect((await volumeRow(id))?.attachments).toEqual([]);

    await publish([
      volumeEvent({
        eventType: 'volume.resize.end',
        volumeId: id,
        at: at(30),
        size: 20,
        metadata: meta,
      }).body,
    ]);
    await waitFor('resize applied', async () => (await volumeRow(id))?.size_gb === 20);

    // A retype migrated the volume: Cinder now shows a name_id, so the LV name changes.
    const nameId = randomUUID();
    fetched.set(id, {
      id,
      name: 'db01-data',
      projectId: 'a6944d763bf64ee6a275f1263fae0352',
      status: 'available',
      sizeGb: 20,
      host: 'stor2@lvm#LVM',
      backendHost: 'stor2@lvm',
      nameId,
      lvName: `volume-${nameId}`,
      metadata: meta,
      attachments: [],
      bootable: false,
      volumeType: 'lvm-fast',
      cinderUpdatedAt: at(40),
    });
    await publish([
      volumeEvent({
        eventType: 'volume.retype',
        volumeId: id,
        at: at(40),
        size: 20,
        metadata: meta,
      }).body,
    ]);
    await waitFor('retype applied', async () => (await volumeRow(id))?.volume_type === 'lvm-fast');
    expect((await volumeRow(id))?.lv_name).toBe(`volume-${nameId}`);

    await publish([
      volumeEvent({
        eventType: 'volume.delete.end',
        volumeId: id,
        at: new Date(Date.now() + 1000),
        status: 'deleted',
        metadata: meta,
      }).body,
    ]);
    await waitFor('delete applied', async () => (await volumeRow(id))?.deleted_at != null);

    // An old event replayed after the delete changes nothing.
    await publish([
      volumeEvent({
        eventType: 'volume.attach.end',
        volumeId: id,
        at: at(15),
        status: 'in-use',
        attachedTo: server,
        metadata: meta,
      }).body,
    ]);
    await waitFor('replay recorded as stale', async () => {
      const r = await db.pool.query(
        `SELECT 1 FROM processed_notifications WHERE volume_id = $1 AND outcome = 'stale'`,
        [id],
      );
      return r.rowCount === 1;
    });
    const replay = await db.pool.query(
      'SELECT 1 FROM processed_notifications WHERE volume_id = $1',
      [id],
    );
    expect(replay.rowCount).toBe(7);
    expect((await volumeRow(id))?.status).toBe('deleted');
  });

  it('applies a redelivered message only once', async () => {
    const id = randomUUID();
    const ev = volumeEvent({
      eventType: 'volume.create.end',
      volumeId: id,
      at: new Date('2026-11-26T15:10:00Z'),
      metadata: { backup: 'daily' },
    });
    const dupBefore = consumer.stats.duplicates;
    await publish([ev.body, ev.body, ev.body]);
    await waitFor('duplicates seen', () =>
      Promise.resolve(consumer.stats.duplicates - dupBefore === 2),
    );
    const r = await db.pool.query('SELECT * FROM processed_notifications WHERE message_id = $1', [
      ev.messageId,
    ]);
    expect(r.rowCount).toBe(1);
  });

  it('dead-letters the bad-message corpus with reasons and keeps applying good messages', async () => {
    const corpus = badMessages();
    const deadBefore = consumer.stats.deadLettered;
    await publish(corpus.map((m) => m.body));
    const good = randomUUID();
    await publish([
      volumeEvent({
        eventType: 'volume.create.end',
        volumeId: good,
        at: new Date('2026-11-26T15:20:00Z'),
      }).body,
    ]);
    await waitFor('good message after the corpus applied', () => volumeRow(good));
    const expectedDead = corpus.filter((m) => m.expect === 'dead-letter');
    // The good message's row is committed with its batch, before the consumer dead-letters
    // (one confirmed publish each) and records the refused messages of that same batch.
    await waitFor('the dead letters recorded', async () => {
      const r = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM dead_notifications');
      return Number(r.rows[0]?.n) >= expectedDead.length;
    });
    expect(consumer.stats.deadLettered - deadBefore).toBe(expectedDead.length);

    // Every dead letter is in the dead-letter queue with its reason, and recorded in Postgres.
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const reasons: string[] = [];
    for (;;) {
      const m = await ch.get(deadLetterQueue, { noAck: true });
      if (m === false) break;
      reasons.push(String(m.properties.headers?.['x-clb-reason']));
    }
    await conn.close();
    expect(reasons).toHaveLength(expectedDead.length);
    for (const m of expectedDead) expect(reasons.some((r) => m.reason.test(r))).toBe(true);
    const rows = await db.pool.query<{ reason: string }>('SELECT reason FROM dead_notifications');
    expect(rows.rowCount).toBe(expectedDead.length);
    // The hostile-but-well-formed metadata was stored and turned into a policy error.
    const hostile = await volumeRow('11111111-2222-4333-8444-555555555555');
    expect(hostile?.policy).toBeNull();
    expect(hostile?.policy_error).toMatch(/"\$\(reboot\)" is not hourly/);
    expect(hostile?.policy_error).toMatch(/"\.\."/);
    expect(Object.getPrototypeOf(hostile?.metadata)).toBe(Object.prototype);
  });

  it('leaves a Ceilometer-like queue on the same exchange every info message', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const q = await ch.checkQueue(ceilometerQueue);
    await conn.close();
    const errorPriority = 1; // the scheduler.create_volume fixture went to notifications.error
    expect(q.messageCount).toBe(published - errorPriority);
  });
});
