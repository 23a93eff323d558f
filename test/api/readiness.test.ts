import { describe, expect, it } from 'vitest';
import { consumerCheck } from '../../src/api/readiness-checks.js';
import { readinessProbe } from '../../src/api/readiness.js';
import { useApiTestbed } from './api-testbed.js';

const tb = useApiTestbed();

interface ReadyBody {
  status: string;
  checks: Record<string, { ok: boolean; error?: string }>;
}

describe('/healthz and /readyz', () => {
  it('healthz answers while the process runs, without a token', async () => {
    const r = await tb.app.inject({ url: '/healthz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('readyz names Postgres, RabbitMQ and Keystone, each checked for real', async () => {
    const r = await tb.app.inject({ url: '/readyz' });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json<ReadyBody>();
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['keystone', 'postgres', 'rabbitmq']);
    expect(Object.values(body.checks).every((c) => c.ok)).toBe(true);
  });

  it('readyz says 503 and which one when Keystone does not answer', async () => {
    await tb.emu.control.down('keystone');
    try {
      const r = await tb.app.inject({ url: '/readyz' });
      expect(r.statusCode).toBe(503);
      const body = r.json<ReadyBody>();
      expect(body.status).toBe('not ready');
      expect(body.checks['keystone']?.ok).toBe(false);
      expect(body.checks['keystone']?.error).toMatch(/OPENSTACK_UNAVAILABLE/);
      expect(body.checks['postgres']?.ok).toBe(true);
      expect(body.checks['rabbitmq']?.ok).toBe(true);
    } finally {
      await tb.emu.control.up('keystone');
    }
    expect((await tb.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('a check that hangs fails at the time limit; a disconnected consumer is not ready', async () => {
    const probe = readinessProbe(
      [
        { name: 'postgres', check: () => new Promise(() => undefined) },
        consumerCheck({ consuming: false }),
        consumerCheck({ consuming: true }),
      ],
      { timeoutMs: 100, reuseMs: 0 },
    );
    const started = Date.now();
    const r = await probe();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.ready).toBe(false);
    expect(r.checks['postgres']?.error).toMatch(/no answer within 100 ms/);
    // Both consumer checks are named rabbitmq: the later one (connected) wins the key.
    expect(r.checks['rabbitmq']?.ok).toBe(true);
  });
});
