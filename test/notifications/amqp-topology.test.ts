import { describe, expect, it } from 'vitest';
import { topologyProblem } from '../../src/notifications/amqp-topology.js';
import { withHeartbeat } from '../../src/notifications/consumer.js';

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
