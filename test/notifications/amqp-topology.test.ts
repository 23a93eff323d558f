import { randomBytes, randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { declareTopology, topologyProblem } from '../../src/notifications/amqp-topology.js';
import { withHeartbeat } from '../../src/notifications/consumer.js';
import { REMOVED, scrubbedBody } from '../../src/notifications/dead-letter-body.js';
import { AMQP_URL, deleteTopology, volumeEvent } from './notification-builder.js';

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

describe('the bounded dead-letter queue', () => {
  it('declares it with a TTL and a length bound, and drops the oldest beyond it', async () => {
    const s = randomBytes(4).toString('hex');
    const o = {
      exchanges: [`clb_test_dlq_${s}`],
      queue: `clb-test-dlq-${s}`,
      deadLetterQueue: `clb-test-dlq-${s}.dead-letter`,
      routingKeys: ['notifications.info'],
      deadLetterBounds: { ttlSeconds: 3600, maxLength: 3 },
    };
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      const declared = await declareTopology(conn, ch, o);
      expect(declared.deadLetterQueue).toBe(o.deadLetterQueue);
      for (let i = 0; i < 5; i++) ch.sendToQueue(o.deadLetterQueue, Buffer.from(`m${i}`));
      await ch.waitForConfirms();
      expect((await ch.checkQueue(o.deadLetterQueue)).messageCount).toBe(3);
      const first = await ch.get(o.deadLetterQueue, { noAck: true });
      expect(first !== false && first.content.toString()).toBe('m2');
      await ch.close();
    } finally {
      await conn.close();
      await deleteTopology(o.exchanges[0] as string, [o.queue, o.deadLetterQueue]);
    }
  });

  it('moves to <name>.bounded when an unbounded queue of that name exists (upgrade)', async () => {
    const s = randomBytes(4).toString('hex');
    const o = {
      exchanges: [`clb_test_dlq_${s}`],
      queue: `clb-test-dlq-${s}`,
      deadLetterQueue: `clb-test-dlq-${s}.dead-letter`,
      routingKeys: ['notifications.info'],
    };
    const conn = await amqp.connect(AMQP_URL);
    try {
      const old = await conn.createChannel();
      // As an earlier version declared it: durable, no arguments, holding a dead letter.
      await old.assertQueue(o.deadLetterQueue, { durable: true });
      old.sendToQueue(o.deadLetterQueue, Buffer.from('kept'));
      await old.close();
      const ch = await conn.createConfirmChannel();
      const declared = await declareTopology(conn, ch, o);
      expect(declared.deadLetterQueue).toBe(`${o.deadLetterQueue}.bounded`);
      // The old queue and its message are left alone for the operator.
      expect((await ch.checkQueue(o.deadLetterQueue)).messageCount).toBe(1);
      // A second start finds the same pair and uses the bounded one again.
      const again = await declareTopology(conn, ch, o);
      expect(again.deadLetterQueue).toBe(`${o.deadLetterQueue}.bounded`);
      await ch.close();
    } finally {
      await conn.close();
      await deleteTopology(o.exchanges[0] as string, [
        o.queue,
        o.deadLetterQueue,
        `${o.deadLetterQueue}.bounded`,
      ]);
    }
  });
});

describe('scrubbedBody', () => {
  it('removes connection_info and other secrets, inside the oslo 2.0 envelope too', () => {
    const ev = volumeEvent({
      eventType: 'volume.attach.end',
      volumeId: randomUUID(),
      at: new Date(),
      attachedTo: randomUUID(),
    });
    expect(ev.body.toString()).toContain('chap-secret-123');
    const out = scrubbedBody(ev.body).toString();
    expect(out).not.toContain('chap-secret-123');
    const inner = JSON.parse((JSON.parse(out) as { 'oslo.message': string })['oslo.message']) as {
      payload: { volume_attachment: Record<string, unknown>[] };
    };
    expect(inner.payload.volume_attachment[0]?.['connection_info']).toBe(REMOVED);
    expect(inner.payload.volume_attachment[0]?.['attached_host']).toBe('compute1');
  });

  it('keeps a body that is not JSON as it is', () => {
    expect(scrubbedBody(Buffer.from('not json')).toString()).toBe('not json');
  });
});
