/**
 * The consumer's retry path on the real RabbitMQ: a message whose effect cannot be committed
 * yet (database down) is requeued after a pause and applied when it can be; stop() during
 * the pause leaves it on the queue.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotificationConsumer } from '../../src/notifications/consumer.js';
import { decodeNotification } from '../../src/notifications/oslo-envelope.js';
import type { Disposition } from '../../src/notifications/process-message.js';
import { AMQP_URL, deleteTopology, TestPublisher, volumeEvent } from './notification-builder.js';

const suffix = randomBytes(4).toString('hex');
const exchange = `clb_test_retry_${suffix}`;
const queue = `clb-test-retry-${suffix}.notifications`;
let publisher: TestPublisher;

beforeAll(async () => {
  publisher = await TestPublisher.open(exchange);
});
afterAll(async () => {
  await publisher?.close();
  await deleteTopology(exchange, [queue, `${queue}.dead-letter`]);
});

function consumerWith(handle: (body: Buffer) => Promise<Disposition>): NotificationConsumer {
  return new NotificationConsumer({
    url: AMQP_URL,
    exchanges: [exchange],
    queue,
    deadLetterQueue: `${queue}.dead-letter`,
    routingKeys: ['notifications.info'],
    prefetch: 4,
    retryInitialMs: 50,
    retryMaxMs: 200,
    handle,
  });
}

describe('consumer retries', () => {
  it('requeues a message until its effect can be committed, then acks it once', async () => {
    let calls = 0;
    const consumer = consumerWith((body) => {
      calls += 1;
      const d = decodeNotification(body);
      if (!d.ok) throw new Error(d.reason);
      if (calls <= 3)
        return Promise.resolve({
          action: 'retry',
          reason: 'database unavailable',
          notification: d.notification,
        });
      return Promise.resolve({
        action: 'ack',
        notification: d.notification,
        result: {
          outcome: 'applied',
          volumeId: null,
          jobId: null,
          triggerSkipped: null,
          ignoredReason: null,
        },
      });
    });
    await consumer.start();
    try {
      await publisher.publish([
        volumeEvent({
          eventType: 'volume.create.end',
          volumeId: '0b8c8f44-4d0e-4b8e-9a0e-6f1d2c3b4a59',
          at: new Date(),
        }).body,
      ]);
      const until = Date.now() + 10_000;
      while (consumer.stats.acked < 1 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 20));
      expect(consumer.stats).toMatchObject({ retried: 3, acked: 1, deadLettered: 0 });
      expect(calls).toBe(4);
    } finally {
      await consumer.stop();
    }
  });

  it('leaves a message it is waiting to retry on the queue when stopped', async () => {
    const consumer = consumerWith((body) => {
      const d = decodeNotification(body);
      if (!d.ok) throw new Error(d.reason);
      return Promise.resolve({
        action: 'retry',
        reason: 'database unavailable',
        notification: d.notification,
      });
    });
    await consumer.start();
    await publisher.publish([
      volumeEvent({
        eventType: 'volume.create.end',
        volumeId: '1b8c8f44-4d0e-4b8e-9a0e-6f1d2c3b4a59',
        at: new Date(),
      }).body,
    ]);
    const until = Date.now() + 10_000;
    while (consumer.stats.retried < 1 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    await consumer.stop();
    expect(consumer.stats.acked).toBe(0);
    const q = await publisher.channel.checkQueue(queue);
    expect(q.messageCount).toBe(1);
  });
});
