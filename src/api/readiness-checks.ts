/**
 * The controller's dependencies as readiness checks: Postgres answers a query, the
 * notification consumer is connected to RabbitMQ (or, without one, a connection opens),
 * and Keystone validates our own token (a real round trip with our credentials).
 */
import amqp from 'amqplib';
import { ping } from '../db/pool.js';
import type { Queryable } from '../db/queryable.js';
import { AppError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { KeystoneSession } from '../openstack/keystone.js';
import type { ReadinessCheck } from './readiness.js';

export function postgresCheck(db: Queryable): ReadinessCheck {
  return { name: 'postgres', check: () => ping(db) };
}

/** Ready while the consumer holds a live, consuming connection. */
export function consumerCheck(consumer: { consuming: boolean }): ReadinessCheck {
  return {
    name: 'rabbitmq',
    check: () =>
      consumer.consuming
        ? Promise.resolve()
        : Promise.reject(
            new AppError('AMQP_UNAVAILABLE', 'the notification consumer is not connected'),
          ),
  };
}

/** Opens and closes a connection to the broker (for a process without a consumer). */
export function amqpConnectCheck(url: string): ReadinessCheck {
  return {
    name: 'rabbitmq',
    check: async () => {
      let conn: Awaited<ReturnType<typeof amqp.connect>>;
      try {
        conn = await amqp.connect(url, { timeout: 2000 });
      } catch (err) {
        throw new AppError('AMQP_UNAVAILABLE', `RabbitMQ: ${(err as Error).message}`, {
          cause: err,
        });
      }
      await conn.close().catch(() => undefined);
    },
  };
}

/** Fails while the inventory polls fail (Cinder or Keystone refusing, stalling, garbling). */
export function inventoryPollCheck(health: {
  problem(): { code: string; message: string } | null;
}): ReadinessCheck {
  return {
    name: 'cinder',
    check: () => {
      const p = health.problem();
      if (p === null) return Promise.resolve();
      const code: ErrorCode = p.code in ERROR_CODES ? (p.code as ErrorCode) : 'OPENSTACK_API_ERROR';
      return Promise.reject(new AppError(code, p.message));
    },
  };
}

export function keystoneCheck(session: KeystoneSession): ReadinessCheck {
  return {
    name: 'keystone',
    check: async (signal) => {
      const own = await session.token(signal);
      const seen = await session.validateToken(own.value, {
        signal,
        retry: { attempts: 1, timeoutMs: 2500 },
      });
      if (seen === null) {
        throw new AppError('OPENSTACK_AUTH_FAILED', 'Keystone does not know our own token');
      }
    },
  };
}
