import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { declareTopology, topologyProblem } from '../../src/notifications/amqp-topology.js';
import { withHeartbeat } from '../../src/notifications/consumer.js';
import { AMQP_URL, deleteTopology } from './notification-builder.js';

const ok = {
  exchanges: ['openstack'],
  queue: 'cinder-lvm-backup.notifications',
  deadLetterQueue: 'cinder-lvm-backup.notifications.dead-letter',
  routingKeys: ['notifications.info', 'notifications.error'],
};

describe('topologyProblem', () => {
  it('accepts a queue of our own', () => {
    expect(topologyProblem(ok)).toBeNull();
  });

  it.each([
    [{ ...ok, queue: 'notifications.info' }, /shared oslo queue/],
    [{ ...ok, queue: 'notifications.error' }, /shared oslo queue/],
    [{ ...ok, deadLetterQueue: 'notifications.info' }, /shared oslo queue/],
    [{ ...ok, exchanges: [] }, /no notification exchange/],
    [{ ...ok, queue: 'amq.gen-x' }, /not allowed/],
    [{ ...ok, deadLetterQueue: ok.queue }, /must differ/],
  ])('refuses %j', (o, reason) => {
    expect(topologyProblem(o)).toMatch(reason);
  });
});

describe('withHeartbeat', () => {
  it.each([
    ['amqp://u:p@mq:5672', 'amqp://u:p@mq:5672?heartbeat=20'],
    ['amqp://mq/vhost?frameMax=8192', 'amqp://mq/vhost?frameMax=8192&heartbeat=20'],
    ['amqp://mq?heartbeat=5', 'amqp://mq?heartbeat=5'],
  ])('%s → %s', (url, expected) => {
    expect(withHeartbeat(url)).toBe(expected);
  });
});

describe('declareTopology on the real broker', () => {
  it('uses an existing exchange whatever its flags, and declares a missing one as oslo would', async () => {
    const sfx = randomBytes(4).toString('hex');
    const durableEx = `clb_test_durable_${sfx}`;
    const missingEx = `clb_test_missing_${sfx}`;
    const queue = `clb-test-topology-${sfx}`;
    const conn = await amqp.connect(AMQP_URL);
    try {
      const setup = await conn.createChannel();
      // An operator with amqp_durable_queues=True has a durable control exchange.
      await setup.assertExchange(durableEx, 'topic', { durable: true });
      const ch = await conn.createConfirmChannel();
      const r = await declareTopology(conn, ch, {
        exchanges: [durableEx, missingEx],
        queue,
        deadLetterQueue: `${queue}.dead-letter`,
        routingKeys: ['notifications.info'],
      });
      expect(r.exchanges).toEqual({ [durableEx]: 'existed', [missingEx]: 'declared' });
      // oslo's own declaration (topic, non-durable) of the exchange we created must not get a 406.
      await setup.assertExchange(missingEx, 'topic', { durable: false, autoDelete: false });
      await ch.close();
      await setup.close();
    } finally {
      await conn.close();
      await deleteTopology(durableEx, [queue, `${queue}.dead-letter`]);
      await deleteTopology(missingEx, []);
    }
  });
});
