/**
 * The AMQP side of the notification consumer (amqplib): connects, declares its topology,
 * consumes with a bounded prefetch and manual acks, and hands messages to a handler that
 * commits their effect before they are acknowledged. Messages are handled in batches, one
 * batch at a time in delivery order, so events of one volume apply in the order they
 * arrived: a batch starts once `batchSize` messages wait or `batchWaitMs` after the first
 * one arrived, and while one is being handled the next ones gather (the prefetch should
 * hold at least two batches). `batchSize` 1 handles one message at a time.
 *
 * - ack: only after the handler says the effect is committed (or there is none); the acks
 *   of a batch go out as one (`multiple`, up to its last delivery tag);
 * - dead-letter: the body is republished (persistent, confirmed) to the dead-letter queue
 *   with the reason in its headers, then the original is acked; the consumer goes on;
 * - retry: after a growing pause the message is requeued (database or Cinder down);
 * - connection lost (broker restart): reconnect with capped, jittered backoff; unacked
 *   messages come back from the broker and the handler's idempotency makes them harmless.
 * Payloads are never logged: attachment rows carry target credentials.
 */
import { createHash } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { DeadLetterRecord } from '../db/dead-notifications.js';
import { AppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { declareTopology, topologyProblem, type TopologyOptions } from './amqp-topology.js';
import { scrubbedBody } from './dead-letter-body.js';
import type { BatchItem } from './process-batch.js';
import type { DeliveryMeta, Disposition } from './process-message.js';
import { jitteredBackoff } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';

export interface ConsumerOptions extends TopologyOptions {
  /** The broker, or the nodes of a RabbitMQ cluster: each connect tries the next one. */
  url: string | readonly string[];
  prefetch: number;
  /** Handles one message (used when `handleBatch` is not given). */
  handle?: (body: Buffer, meta: DeliveryMeta) => Promise<Disposition>;
  /** Handles a batch; one disposition per message, in their order. */
  handleBatch?: (items: BatchItem[]) => Promise<Disposition[]>;
  /** Most messages per batch (default 1). */
  batchSize?: number;
  /** Longest wait for a batch to fill once its first message arrived (default 0). */
  batchWaitMs?: number;
  /** Called after a message went to the dead-letter queue (e.g. to record it in Postgres). */
  onDeadLetter?: (record: DeadLetterRecord) => Promise<void>;
  logger?: Logger;
  /** Interval of the info-level stats line (default 60 s; 0: never). */
  statsIntervalMs?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
}

export interface ConsumerStats {
  received: number;
  acked: number;
  deadLettered: number;
  retried: number;
  duplicates: number;
  connects: number;
}

/** A header value safe for AMQP and logs: printable ASCII, bounded. */
function headerText(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 500);
}

/**
 * Adds a 20 s heartbeat unless the URL sets one: amqplib would take the broker's 60 s, and a
 * silently dead link (network partition) is only noticed after two missed beats.
 */
export function withHeartbeat(url: string): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=20`;
}

/** The wait before try `attempt + 1` (attempt counts from 0 here), in milliseconds. */
function backoffMs(attempt: number, initial: number, max: number): number {
  return Math.round(jitteredBackoff(attempt + 1, { base: initial, cap: max }));
}

export class NotificationConsumer {
  readonly stats: ConsumerStats = {
    received: 0,
    acked: 0,
    deadLettered: 0,
    retried: 0,
    duplicates: 0,
    connects: 0,
  };
  private conn: ChannelModel | null = null;
  private channel: ConfirmChannel | null = null;
  private consumerTag: string | null = null;
  private deadLetterQueue: string;
  /** The batch worker while it runs (stop() waits for it). */
  private chain: Promise<void> = Promise.resolve();
  private working = false;
  /** Delivered and not yet handed to the handler, with the channel they came on. */
  private pending: ConsumeMessage[] = [];
  private pendingChannel: ConfirmChannel | null = null;
  private batchTimer: NodeJS.Timeout | null = null;
  private readonly batchSize: number;
  private readonly batchWaitMs: number;
  private readonly stopController = new AbortController();
  private connectLoop: Promise<void> | null = null;
  /** Connects tried so far; picks the next node of a cluster each time. */
  private connectAttempts = 0;
  private readonly retries = new Map<string, number>();
  private readonly log: Logger;
  private readyResolve: (() => void) | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private live = false;

  constructor(private readonly o: ConsumerOptions) {
    const problem = topologyProblem(o);
    if (problem !== null) throw new AppError('CONFIG_INVALID', problem);
    if (!Number.isInteger(o.prefetch) || o.prefetch < 1 || o.prefetch > 1000) {
      throw new AppError('CONFIG_INVALID', 'prefetch must be an integer from 1 to 1000');
    }
    this.batchSize = o.batchSize ?? 1;
    this.batchWaitMs = o.batchWaitMs ?? 0;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 1000) {
      throw new AppError('CONFIG_INVALID', 'batch size must be an integer from 1 to 1000');
    }
    if (!Number.isInteger(this.batchWaitMs) || this.batchWaitMs < 0 || this.batchWaitMs > 60_000) {
      throw new AppError('CONFIG_INVALID', 'batch wait must be 0 to 60000 ms');
    }
    if (o.handle === undefined && o.handleBatch === undefined) {
      throw new AppError('CONFIG_INVALID', 'the consumer needs handle or handleBatch');
    }
    this.log = (o.logger ?? silentLogger).child({ component: 'notification-consumer' });
    this.deadLetterQueue = o.deadLetterQueue;
  }

  /** True while a connection to the broker is up and consuming (for readiness checks). */
  get consuming(): boolean {
    return this.live;
  }

  /**
   * Starts consuming; resolves once the first connection consumes. Keeps reconnecting in
   * the background until stop().
   */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      this.readyResolve = resolve;
    });
    this.connectLoop = this.runConnectLoop();
    const every = this.o.statsIntervalMs ?? 60_000;
    if (every > 0) {
      let last = '';
      this.statsTimer = setInterval(() => {
        const now = JSON.stringify(this.stats);
        if (now !== last) this.log.info({ ...this.stats }, 'notification consumer stats');
        last = now;
      }, every);
      this.statsTimer.unref();
    }
    await Promise.race([ready, this.stopped()]);
  }

  private stopped(): Promise<void> {
    const signal = this.stopController.signal;
    return new Promise((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  private async runConnectLoop(): Promise<void> {
    const signal = this.stopController.signal;
    let attempt = 0;
    while (!signal.aborted) {
      let closed: Promise<void>;
      try {
        ({ closed } = await this.connectOnce());
        attempt = 0;
        this.readyResolve?.();
      } catch (err) {
        const wait = backoffMs(
          attempt,
          this.o.reconnectInitialMs ?? 500,
          this.o.reconnectMaxMs ?? 30_000,
        );
        attempt += 1;
        this.log.warn({ err, retryInMs: wait }, 'AMQP connect failed');
        await this.closeQuietly();
        await sleep(wait, signal);
        continue;
      }
      await Promise.race([closed, this.stopped()]);
      if (signal.aborted) break;
      this.log.warn('AMQP connection lost; reconnecting');
      await this.closeQuietly();
      await sleep(
        backoffMs(0, this.o.reconnectInitialMs ?? 500, this.o.reconnectMaxMs ?? 30_000),
        signal,
      );
    }
  }

  /** Connects, declares, consumes; resolves to a promise that settles when the link drops. */
  private async connectOnce(): Promise<{ closed: Promise<void> }> {
    const urls = typeof this.o.url === 'string' ? [this.o.url] : this.o.url;
    const url = urls[this.connectAttempts % urls.length] ?? '';
    this.connectAttempts += 1;
    const conn = await amqp.connect(withHeartbeat(url));
    this.conn = conn;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      markClosed = () => {
        this.live = false;
        resolve();
      };
    });
    conn.on('error', (err: Error) => this.log.warn({ err }, 'AMQP connection error'));
    conn.on('close', () => markClosed());
    const ch = await conn.createConfirmChannel();
    ch.on('error', (err: Error) => this.log.warn({ err }, 'AMQP channel error'));
    ch.on('close', () => markClosed());
    const declared = await declareTopology(conn, ch, this.o);
    if (declared.deadLetterQueue !== this.o.deadLetterQueue) {
      this.log.warn(
        { configured: this.o.deadLetterQueue, inUse: declared.deadLetterQueue },
        'the dead-letter queue exists without a TTL and length bound (made by an earlier version): dead letters go to the bounded queue; read and delete the old one',
      );
    }
    this.deadLetterQueue = declared.deadLetterQueue;
    await ch.prefetch(this.o.prefetch);
    this.channel = ch;
    const { consumerTag } = await ch.consume(
      this.o.queue,
      (msg) => {
        if (msg === null) {
          // The broker cancelled the consumer (queue deleted): reconnect and redeclare.
          markClosed();
          return;
        }
        this.stats.received += 1;
        this.enqueue(ch, msg);
      },
      { noAck: false },
    );
    this.consumerTag = consumerTag;
    this.live = true;
    this.stats.connects += 1;
    this.log.info(
      {
        queue: this.o.queue,
        exchanges: declared.exchanges,
        prefetch: this.o.prefetch,
        batchSize: this.batchSize,
        batchWaitMs: this.batchWaitMs,
      },
      'consuming notifications',
    );
    return { closed };
  }

  /** Queues a delivery; starts a batch when enough wait, or arms the batch timer. */
  private enqueue(ch: ConfirmChannel, msg: ConsumeMessage): void {
    if (this.pendingChannel !== ch) {
      // Deliveries of a channel that closed come back from the broker: forget them.
      this.pending = [];
      this.pendingChannel = ch;
    }
    this.pending.push(msg);
    if (this.working) return;
    if (this.pending.length >= this.batchSize || this.batchWaitMs === 0) {
      this.startWorker();
    } else if (this.batchTimer === null) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = null;
        if (!this.working) this.startWorker();
      }, this.batchWaitMs);
    }
  }

  /** Handles batches until nothing waits; what arrives meanwhile forms the next batch. */
  private startWorker(): void {
    if (this.batchTimer !== null) {
      clearTimeout(this.batchTimer);
      this.batchTimer = null;
    }
    this.working = true;
    this.chain = (async () => {
      try {
        while (this.pending.length > 0 && !this.stopController.signal.aborted) {
          const ch = this.pendingChannel;
          const batch = this.pending.splice(0, this.batchSize);
          if (ch !== null) await this.handleBatch(ch, batch);
        }
      } finally {
        this.working = false;
      }
    })();
  }

  private async dispositions(msgs: ConsumeMessage[]): Promise<Disposition[]> {
    const items = msgs.map((msg) => {
      const userId: unknown = msg.properties.userId;
      return {
        body: msg.content,
        meta: { userId: typeof userId === 'string' && userId !== '' ? userId : null },
      };
    });
    const handleFailed = (err: unknown): Disposition => ({
      action: 'retry',
      reason: `handler failed: ${(err as Error).message}`,
      notification: null,
    });
    if (this.o.handleBatch !== undefined) {
      try {
        const ds = await this.o.handleBatch(items);
        if (ds.length !== msgs.length) throw new Error('handleBatch answered the wrong count');
        return ds;
      } catch (err) {
        return msgs.map(() => handleFailed(err));
      }
    }
    const handle = this.o.handle;
    const out: Disposition[] = [];
    for (const item of items) {
      try {
        if (handle === undefined) throw new Error('no handler');
        out.push(await handle(item.body, item.meta));
      } catch (err) {
        out.push(handleFailed(err));
      }
    }
    return out;
  }

  private async handleBatch(ch: ConfirmChannel, msgs: ConsumeMessage[]): Promise<void> {
    // Not yet started when stop() came: leave it unacked; closing the channel requeues it.
    if (this.stopController.signal.aborted || ch !== this.channel) return;
    const ds = await this.dispositions(msgs);
    try {
      const retries: { msg: ConsumeMessage; d: Extract<Disposition, { action: 'retry' }> }[] = [];
      let lastAck: ConsumeMessage | null = null;
      for (const [i, msg] of msgs.entries()) {
        const d = ds[i] as Disposition;
        if (d.action === 'ack') {
          if (d.result.outcome === 'duplicate') this.stats.duplicates += 1;
          this.retries.delete(d.notification.messageId);
          lastAck = msg;
          this.log.debug(
            {
              messageId: d.notification.messageId,
              eventType: d.notification.eventType,
              volumeId: d.result.volumeId,
              outcome: d.result.outcome,
              jobId: d.result.jobId,
              triggerSkipped: d.result.triggerSkipped,
              ...(d.result.ignoredReason === null ? {} : { reason: d.result.ignoredReason }),
            },
            'notification applied',
          );
        } else if (d.action === 'dead-letter') {
          await this.deadLetter(ch, msg, d);
        } else {
          retries.push({ msg, d });
        }
      }
      if (retries.length > 0) await this.requeue(ch, retries);
      if (lastAck !== null) {
        // Every other delivery of the batch is settled by now: one ack covers the rest.
        ch.ack(lastAck, true);
        this.stats.acked += ds.filter((d) => d.action === 'ack').length;
      }
    } catch (err) {
      // The channel died under us (broker restart): the broker redelivers the messages and
      // the message-id ledger makes the repeats harmless.
      this.log.warn({ err }, 'could not settle a batch; it will be redelivered');
    }
  }

  /** After a growing pause (one for the whole batch), hands the messages back to the queue. */
  private async requeue(
    ch: ConfirmChannel,
    retries: { msg: ConsumeMessage; d: Extract<Disposition, { action: 'retry' }> }[],
  ): Promise<void> {
    let wait = 0;
    for (const { msg, d } of retries) {
      const key =
        d.notification?.messageId ?? createHash('sha256').update(msg.content).digest('hex');
      const attempt = this.retries.get(key) ?? 0;
      // Bounded: ids are forgotten on ack; a flood of never-acked ones must not grow it forever.
      if (this.retries.size > 10_000) this.retries.clear();
      this.retries.set(key, attempt + 1);
      wait = Math.max(
        wait,
        backoffMs(attempt, this.o.retryInitialMs ?? 500, this.o.retryMaxMs ?? 30_000),
      );
      this.stats.retried += 1;
    }
    const first = retries[0]?.d;
    this.log.warn(
      {
        messages: retries.length,
        messageId: first?.notification?.messageId,
        reason: first?.reason,
        retryInMs: wait,
      },
      'notification not applied; will retry',
    );
    await sleep(wait, this.stopController.signal);
    for (const { msg } of retries) ch.nack(msg, false, true);
  }

  private async deadLetter(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    d: Extract<Disposition, { action: 'dead-letter' }>,
  ): Promise<void> {
    const reason = headerText(d.reason);
    const record: DeadLetterRecord = {
      messageId: d.notification?.messageId ?? null,
      eventType: d.notification?.eventType ?? null,
      reason,
      exchange: msg.fields.exchange,
      routingKey: msg.fields.routingKey,
      bodyBytes: msg.content.length,
      bodySha256: createHash('sha256').update(msg.content).digest('hex'),
    };
    const headers: Record<string, unknown> = {
      ...(msg.properties.headers ?? {}),
      'x-clb-reason': reason,
      'x-clb-original-exchange': msg.fields.exchange,
      'x-clb-original-routing-key': msg.fields.routingKey,
      'x-clb-dead-lettered-at': new Date().toISOString(),
    };
    ch.sendToQueue(this.deadLetterQueue, scrubbedBody(msg.content), {
      persistent: true,
      headers,
      contentType: msg.properties.contentType as string | undefined,
    });
    // The original is acked only once the broker has the copy.
    await ch.waitForConfirms();
    ch.ack(msg);
    this.stats.deadLettered += 1;
    this.log.warn(
      {
        messageId: record.messageId,
        eventType: record.eventType,
        reason,
        bodyBytes: record.bodyBytes,
        bodySha256: record.bodySha256,
      },
      'notification dead-lettered',
    );
    if (this.o.onDeadLetter !== undefined) {
      await this.o
        .onDeadLetter(record)
        .catch((err: unknown) => this.log.warn({ err }, 'could not record a dead letter'));
    }
  }

  private async closeQuietly(): Promise<void> {
    const ch = this.channel;
    const conn = this.conn;
    this.channel = null;
    this.conn = null;
    this.consumerTag = null;
    this.live = false;
    if (ch !== null) await ch.close().catch(() => undefined);
    if (conn !== null) await conn.close().catch(() => undefined);
  }

  /**
   * Orderly stop: stop consuming, let the batch in hand finish (its acks go out), then close
   * the channel (unstarted prefetched messages return to the queue) and the connection.
   */
  async stop(): Promise<void> {
    const ch = this.channel;
    const tag = this.consumerTag;
    if (ch !== null && tag !== null) await ch.cancel(tag).catch(() => undefined);
    this.stopController.abort();
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    if (this.batchTimer !== null) clearTimeout(this.batchTimer);
    await this.chain;
    await this.closeQuietly();
    await this.connectLoop;
    this.log.info({ ...this.stats }, 'notification consumer stopped');
  }
}
