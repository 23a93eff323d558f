/**
 * The consumer's place on the broker: its OWN durable queue bound to the exchange(s) Cinder
 * publishes to, plus a dead-letter queue. Never the shared `notifications.info` queue:
 * RabbitMQ round-robins a queue's consumers, so consuming it would steal about half of
 * Ceilometer's messages (openstack-wire.md A.4-A.5).
 *
 * Cinder's exchange (`openstack` unless `control_exchange` is set) is a non-durable topic
 * exchange; amqplib's default (durable) declaration is refused with 406 and closes the
 * channel (wire G). It is therefore checked passively first, and only when missing declared
 * with oslo's own default flags, so both sides agree whoever comes first.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { AppError } from '../errors.js';

export interface TopologyOptions {
  exchanges: readonly string[];
  queue: string;
  deadLetterQueue: string;
  routingKeys: readonly string[];
  /** Bounds of the dead-letter queue (default DEFAULT_DEAD_LETTER_BOUNDS). */
  deadLetterBounds?: DeadLetterBounds;
}

/**
 * A dead-letter queue anyone on the bus can fill must not grow without end: messages expire
 * after `ttlSeconds` and the oldest are dropped beyond `maxLength`.
 */
export interface DeadLetterBounds {
  ttlSeconds: number;
  maxLength: number;
}

export const DEFAULT_DEAD_LETTER_BOUNDS: DeadLetterBounds = {
  ttlSeconds: 14 * 86_400,
  maxLength: 10_000,
};

/**
 * Suffix of the bounded dead-letter queue declared when a queue of the configured name
 * already exists without bounds (made by a version before them): RabbitMQ refuses to
 * redeclare a queue with other arguments (406 PRECONDITION_FAILED), and deleting it would
 * drop what it holds, so the old one is left for the operator to read and delete.
 */
export const BOUNDED_SUFFIX = '.bounded';

/** Flags oslo.messaging uses for the control exchange by default (amqp_durable_queues=False). */
export const OSLO_EXCHANGE_FLAGS = { durable: false, autoDelete: false } as const;

/** Queue names are ours; refuse the shared oslo queues so a config typo cannot steal them. */
export function topologyProblem(o: TopologyOptions): string | null {
  if (o.exchanges.length === 0) return 'no notification exchange configured';
  for (const name of [o.queue, o.deadLetterQueue]) {
    if (/^notifications\.[a-z]+$/.test(name) || o.routingKeys.includes(name)) {
      return `queue "${name}" is the shared oslo queue other consumers (Ceilometer) read; use a queue of our own`;
    }
    if (name === '' || name.length > 200 || name.startsWith('amq.')) {
      return `queue name "${name}" is not allowed`;
    }
  }
  if (o.queue === o.deadLetterQueue) return 'the dead-letter queue must differ from the queue';
  return null;
}

/** Makes sure `exchange` exists without ever redeclaring it with other flags. */
async function ensureExchange(
  conn: ChannelModel,
  exchange: string,
): Promise<'existed' | 'declared'> {
  const probe = await conn.createChannel();
  // A failed passive declare closes the channel with an error event; it is expected here.
  probe.on('error', () => undefined);
  try {
    await probe.checkExchange(exchange);
    await probe.close();
    return 'existed';
  } catch {
    // 404 NOT_FOUND: the channel is already closed by the broker.
  }
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.assertExchange(exchange, 'topic', OSLO_EXCHANGE_FLAGS);
  } finally {
    await ch.close().catch(() => undefined);
  }
  return 'declared';
}

/** Declares exchanges (if missing), the queue, the dead-letter queue and the bindings. */
export async function declareTopology(
  conn: ChannelModel,
  ch: ConfirmChannel,
  o: TopologyOptions,
): Promise<{ exchanges: Record<string, 'existed' | 'declared'>; deadLetterQueue: string }> {
  const exchanges: Record<string, 'existed' | 'declared'> = {};
  for (const exchange of o.exchanges) exchanges[exchange] = await ensureExchange(conn, exchange);
  await ch.assertQueue(o.queue, { durable: true });
  const deadLetterQueue = await ensureBoundedQueue(
    conn,
    o.deadLetterQueue,
    o.deadLetterBounds ?? DEFAULT_DEAD_LETTER_BOUNDS,
  );
  for (const exchange of o.exchanges) {
    for (const key of o.routingKeys) await ch.bindQueue(o.queue, exchange, key);
  }
  return { exchanges, deadLetterQueue };
}

/**
 * Declares the dead-letter queue with its bounds; when a queue of that name exists without
 * them, declares `<name>.bounded` instead and returns the name in use.
 */
async function ensureBoundedQueue(
  conn: ChannelModel,
  name: string,
  bounds: DeadLetterBounds,
): Promise<string> {
  const options = {
    durable: true,
    arguments: { 'x-message-ttl': bounds.ttlSeconds * 1000, 'x-max-length': bounds.maxLength },
  };
  for (const candidate of [name, `${name}${BOUNDED_SUFFIX}`]) {
    const ch = await conn.createChannel();
    // A refused declaration closes the channel with an error event; expected here.
    ch.on('error', () => undefined);
    try {
      await ch.assertQueue(candidate, options);
      await ch.close().catch(() => undefined);
      return candidate;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 406 || candidate !== name) throw err;
    }
  }
  // Both names were tried: the second either returned or threw.
  throw new AppError('INTERNAL', `could not declare the dead-letter queue ${name}`);
}
