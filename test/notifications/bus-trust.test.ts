/**
 * Attacks through the bus, against the real RabbitMQ and Postgres: a volume.update.end
 * published by a broker user other than Cinder's, and events dated in the future. Each is
 * shown changing nothing, next to the same message from a trusted publisher being applied.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationConsumer } from '../../src/notifications/consumer.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';
import { batchConsumer, busNames, waitForValue as waitFor } from './bus-consumer.js';
import { deleteTopology, TestPublisher, volumeEvent } from './notification-builder.js';

const names = busNames('trust');
const { exchange, queue, deadLetterQueue } = names;

let db: FreshDatabase;
let publisher: TestPublisher;
let consumer: NotificationConsumer;

async function row(id: string) {
  const r = await db.pool.query<{
    metadata: Record<string, string>;
    status: string;
    seen_at: Date;
    policy: unknown;
  }>('SELECT metadata, status, seen_at, policy FROM volumes WHERE id = $1', [id]);
  return r.rows[0];
}

async function deadReason(messageId: string): Promise<string | null> {
  const r = await db.pool.query<{ reason: string }>(
    'SELECT reason FROM dead_notifications WHERE message_id = $1',
    [messageId],
  );
  return r.rows[0]?.reason ?? null;
}

async function processed(messageId: string): Promise<string | null> {
  const r = await db.pool.query<{ outcome: string }>(
    'SELECT outcome FROM processed_notifications WHERE message_id = $1',
    [messageId],
  );
  return r.rows[0]?.outcome ?? null;
}

async function tagged(): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    projectId: 'victim',
    status: 'in-use',
    sizeGb: 10,
    host: 'stor1@lvm#LVM',
    lvName: `volume-${id}`,
    metadata: { backup: 'daily' },
  });
  return id;
}

beforeAll(async () => {
  db = await freshDatabase();
  publisher = await TestPublisher.open(exchange);
  consumer = batchConsumer(db, names, {
    routingKeys: ['notifications.info'],
    prefetch: 8,
    batchSize: 4,
    batch: { trust: { cinderBrokerUsers: ['cinder'], maxFutureSkewSeconds: 300 } },
  });
  await consumer.start();
});

afterAll(async () => {
  await consumer?.stop();
  await publisher?.close();
  await deleteTopology(exchange, [queue, deadLetterQueue]);
  await db?.drop();
});

describe('the bus is not believed blindly', () => {
  it('refuses a forged update from a broker user that is not Cinder, and changes nothing', async () => {
    const id = await tagged();
    const before = await row(id);
    const forged = volumeEvent({
      eventType: 'volume.update.end',
      volumeId: id,
      at: new Date(),
      status: 'in-use',
      metadata: { backup: 'off' },
    });
    // RabbitMQ checks user_id against the login: guest may only claim to be guest.
    publisher.channel.publish(exchange, 'notifications.info', forged.body, {
      persistent: true,
      userId: 'guest',
    });
    await publisher.channel.waitForConfirms();
    const reason = await waitFor('the forged message dead-lettered', async () => {
      const r = await db.pool.query<{ reason: string }>(
        'SELECT reason FROM dead_notifications WHERE reason LIKE $1',
        ['%broker user "guest"%'],
      );
      return r.rows[0]?.reason;
    });
    expect(reason).toMatch(/not a configured Cinder broker user/);
    expect(await row(id)).toEqual(before);
    expect(await processed(forged.messageId)).toBeNull();

    // The same change without a user_id (as a real Cinder publishes) is applied: the
    // refusal above was the user check, not something else about the message.
    const genuine = volumeEvent({
      eventType: 'volume.update.end',
      volumeId: id,
      at: new Date(),
      status: 'in-use',
      metadata: { backup: 'weekly' },
    });
    await publisher.publish([genuine.body]);
    await waitFor(
      'the genuine update applied',
      async () => (await processed(genuine.messageId)) === 'applied',
    );
    expect((await row(id))?.metadata).toEqual({ backup: 'weekly' });
  });

  it('refuses an event dated in 2099: it pins nothing and later events still apply', async () => {
    const id = await tagged();
    const before = await row(id);
    const future = volumeEvent({
      eventType: 'volume.update.end',
      volumeId: id,
      at: new Date('2099-01-01T00:00:00Z'),
      status: 'in-use',
      metadata: { backup: 'daily', 'backup:retention': 'last=1', 'backup:on': 'update' },
    });
    await publisher.publish([future.body]);
    await waitFor('the future-dated message dead-lettered', () => deadReason(future.messageId));
    expect(await deadReason(future.messageId)).toMatch(/more than 300 s in the future/);
    expect(await row(id)).toEqual(before);

    const now = volumeEvent({
      eventType: 'volume.detach.end',
      volumeId: id,
      at: new Date(),
      status: 'available',
      metadata: { backup: 'daily' },
    });
    await publisher.publish([now.body]);
    await waitFor(
      'the current event applied',
      async () => (await processed(now.messageId)) === 'applied',
    );
    expect((await row(id))?.status).toBe('available');
  });

  it('clamps an event dated within the skew to the clock, so it cannot pin the row', async () => {
    const id = await tagged();
    const ahead = volumeEvent({
      eventType: 'volume.attach.end',
      volumeId: id,
      at: new Date(Date.now() + 240_000),
      status: 'in-use',
      metadata: { backup: 'daily' },
    });
    await publisher.publish([ahead.body]);
    await waitFor(
      'the skewed event applied',
      async () => (await processed(ahead.messageId)) === 'applied',
    );
    const seenAt = (await row(id))?.seen_at.getTime() ?? Infinity;
    expect(seenAt).toBeLessThanOrEqual(Date.now());
    // An event a few seconds later than the clamp is fresh, not stale.
    const later = volumeEvent({
      eventType: 'volume.detach.end',
      volumeId: id,
      at: new Date(seenAt + 2000),
      status: 'available',
      metadata: { backup: 'daily' },
    });
    await publisher.publish([later.body]);
    await waitFor(
      'the later event applied',
      async () => (await processed(later.messageId)) === 'applied',
    );
    expect((await row(id))?.status).toBe('available');
  });
});
