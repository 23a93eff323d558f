/**
 * The batch consumer as the controller runs it, for tests against the real RabbitMQ and
 * Postgres: a topology private to the test file, processBatch writing to the test's
 * database, dead letters recorded; and the poll those tests wait on results with.
 */
import { randomBytes } from 'node:crypto';
import { recordDeadLetter } from '../../src/db/dead-notifications.js';
import { NotificationConsumer } from '../../src/notifications/consumer.js';
import { processBatch, type BatchOptions } from '../../src/notifications/process-batch.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import type { FreshDatabase } from '../db/fresh-database.js';
import { AMQP_URL } from './notification-builder.js';

/** An exchange and queues of one test file (`clb_test_<tag>_<random>`). */
export interface BusNames {
  exchange: string;
  queue: string;
  deadLetterQueue: string;
}

export function busNames(tag: string): BusNames {
  const suffix = randomBytes(4).toString('hex');
  const queue = `clb-test-${tag}-${suffix}.notifications`;
  return { exchange: `clb_test_${tag}_${suffix}`, queue, deadLetterQueue: `${queue}.dead-letter` };
}

/**
 * A consumer of `names` that hands its batches (`batchWaitMs` 10) to processBatch on `db`
 * with the default policy limits and `batch`'s options; not started yet.
 */
export function batchConsumer(
  db: FreshDatabase,
  names: BusNames,
  o: {
    routingKeys: string[];
    prefetch: number;
    batchSize: number;
    batch?: Omit<BatchOptions, 'pool' | 'limits'>;
  },
): NotificationConsumer {
  return new NotificationConsumer({
    url: AMQP_URL,
    exchanges: [names.exchange],
    queue: names.queue,
    deadLetterQueue: names.deadLetterQueue,
    routingKeys: o.routingKeys,
    prefetch: o.prefetch,
    batchSize: o.batchSize,
    batchWaitMs: 10,
    handleBatch: (items) =>
      processBatch(items, { pool: db.pool, limits: DEFAULT_POLICY_LIMITS, ...o.batch }),
    onDeadLetter: (r) => recordDeadLetter(db.pool, r),
  });
}

/** Polls `fn` every 50 ms until it yields a value (not null, undefined or false). */
export async function waitForValue<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
