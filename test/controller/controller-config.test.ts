import { describe, expect, it } from 'vitest';
import { controllerConfigFromEnv } from '../../src/controller/controller-config.js';

const base = { DATABASE_URL: 'postgres://db/clb', AMQP_URL: 'amqp://mq' };

describe('controllerConfigFromEnv', () => {
  it('gives the documented defaults', () => {
    const c = controllerConfigFromEnv(base);
    expect(c).toMatchObject({
      exchanges: ['openstack'],
      queue: 'cinder-lvm-backup.notifications',
      deadLetterQueue: 'cinder-lvm-backup.notifications.dead-letter',
      routingKeys: ['notifications.info', 'notifications.error'],
      prefetch: 32,
      pollIntervalSeconds: 300,
      timeZone: 'UTC',
      openstackConfigured: false,
    });
  });

  it('reads the exchange list, intervals and OpenStack presence', () => {
    const c = controllerConfigFromEnv({
      ...base,
      CLB_NOTIFICATION_EXCHANGES: 'openstack, cinder,openstack',
      CLB_POLL_INTERVAL: '60',
      CLB_MIN_BACKUP_INTERVAL: '86400',
      CLB_TIME_ZONE: 'Europe/Paris',
      OS_CLOUD: 'prod',
    });
    expect(c.exchanges).toEqual(['openstack', 'cinder']);
    expect(c.pollIntervalSeconds).toBe(60);
    expect(c.limits.minIntervalSeconds).toBe(86_400);
    expect(c.timeZone).toBe('Europe/Paris');
    expect(c.openstackConfigured).toBe(true);
  });

  it.each([
    [{ AMQP_URL: 'amqp://mq' }, /DATABASE_URL is not set/],
    [{ DATABASE_URL: 'postgres://x' }, /AMQP_URL is not set/],
    [{ ...base, CLB_POLL_INTERVAL: 'often' }, /CLB_POLL_INTERVAL must be an integer from 5/],
    [{ ...base, CLB_POLL_INTERVAL: '1' }, /CLB_POLL_INTERVAL/],
    [{ ...base, CLB_PREFETCH: '0' }, /CLB_PREFETCH/],
    [{ ...base, CLB_NOTIFICATION_EXCHANGES: 'open stack' }, /malformed name/],
    [{ ...base, CLB_TIME_ZONE: 'Mars/Olympus' }, /not a known time zone/],
  ])('refuses %j', (env, reason) => {
    expect(() => controllerConfigFromEnv(env)).toThrow(reason);
  });
});
