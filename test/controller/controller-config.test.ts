import { describe, expect, it } from 'vitest';
import { settingsOf, type Config } from '../../src/config/settings.js';
import { controllerConfigOf } from '../../src/controller/controller-config.js';

const base = { DATABASE_URL: 'postgres://db/clb', AMQP_URL: 'amqp://mq' };

function configOf(env: Record<string, string>): Config {
  return { ...settingsOf(env), configFile: null, openstackCredentials: null };
}

describe('controllerConfigOf', () => {
  it('gives the documented defaults', () => {
    const c = controllerConfigOf(configOf(base));
    expect(c).toMatchObject({
      amqpUrls: ['amqp://mq'],
      exchanges: ['openstack'],
      queue: 'cinder-lvm-backup.notifications',
      deadLetterQueue: 'cinder-lvm-backup.notifications.dead-letter',
      routingKeys: ['notifications.info', 'notifications.error'],
      prefetch: 256,
      batchSize: 100,
      batchWaitMs: 20,
      lookupRate: 20,
      lookupConcurrency: 4,
      hintDelayMs: 2000,
      pollIntervalSeconds: 300,
      timeZone: 'UTC',
      openstackConfigured: false,
    });
    expect(c.limits.minIntervalSeconds).toBe(3600);
    expect(c.limits.defaultRetention).toEqual({ daily: 7, weekly: 4, monthly: 6 });
    expect(c.limits.defaultIncremental).toEqual({
      enabled: true,
      fullEvery: { kind: 'days', days: 7, text: 'weekly' },
    });
  });

  it("takes the operator's incremental defaults, and refuses a bad full_every", () => {
    const c = controllerConfigOf(
      configOf({ ...base, CLB_INCREMENTAL: 'false', CLB_FULL_EVERY: 'every=5' }),
    );
    expect(c.limits.defaultIncremental).toEqual({
      enabled: false,
      fullEvery: { kind: 'count', count: 5, text: 'every=5' },
    });
    expect(() => settingsOf({ ...base, CLB_FULL_EVERY: 'fortnightly' })).toThrow(
      /full_every.*not daily, weekly, monthly or every=N/,
    );
  });

  it('reads the exchange list, intervals and OpenStack presence', () => {
    const c = controllerConfigOf(
      configOf({
        ...base,
        CLB_NOTIFICATION_EXCHANGES: 'openstack, cinder,openstack',
        CLB_POLL_INTERVAL: '60',
        CLB_MIN_BACKUP_INTERVAL: '86400',
        CLB_TIME_ZONE: 'Europe/Paris',
        OS_CLOUD: 'prod',
      }),
    );
    expect(c.exchanges).toEqual(['openstack', 'cinder']);
    expect(c.pollIntervalSeconds).toBe(60);
    expect(c.limits.minIntervalSeconds).toBe(86_400);
    expect(c.timeZone).toBe('Europe/Paris');
    expect(c.openstackConfigured).toBe(true);
  });

  it('takes every node of a rabbit:// transport URL', () => {
    const c = controllerConfigOf(
      configOf({
        DATABASE_URL: 'postgres://db/clb',
        AMQP_URL: 'rabbit://u:p@mq1:5672,u:p@mq2:5672/cinder',
      }),
    );
    expect(c.amqpUrls).toEqual(['amqp://u:p@mq1:5672/cinder', 'amqp://u:p@mq2:5672/cinder']);
  });

  it.each([
    [
      { ...base, CLB_POLL_INTERVAL: 'often' },
      /\[controller\] poll_interval \(from CLB_POLL_INTERVAL\): must be a duration/,
    ],
    [{ ...base, CLB_POLL_INTERVAL: '1' }, /CLB_POLL_INTERVAL\): must be from 5s to 1d/],
    [{ ...base, CLB_PREFETCH: '0' }, /CLB_PREFETCH/],
    [{ ...base, CLB_NOTIFICATION_EXCHANGES: 'open stack' }, /exchanges.*letters, digits/],
    [{ ...base, CLB_TIME_ZONE: 'Mars/Olympus' }, /time_zone.*known IANA time zone/],
  ])('refuses %j', (env, reason) => {
    expect(() => settingsOf(env)).toThrow(reason);
  });
});
