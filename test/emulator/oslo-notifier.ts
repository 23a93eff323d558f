/**
 * Publishes notifications to the real RabbitMQ the way oslo.messaging's rabbit driver does
 * (wire reference A): a non-durable `topic` exchange (default `openstack`), routing key
 * `<topic>.<priority>`, the 2.0 envelope as a JSON body, and on the first send of each
 * routing key the shared default queue named after it, bound to the exchange.
 */
import amqp, { type ConfirmChannel, type ChannelModel } from 'amqplib';
import {
  envelopeV1,
  envelopeV2,
  innerMessage,
  routingKey,
  type Json,
  type NotificationContext,
  type Priority,
} from './oslo-format.js';

/** Settings of the emulated notifier (the cinder.conf options of wire reference A.6). */
export interface NotifierOptions {
  /** AMQP URL; default `AMQP_URL` or amqp://guest:guest@127.0.0.1:5672. */
  url?: string;
  /** `[DEFAULT] control_exchange`; `openstack` for a stock Cinder. */
  exchange?: string;
  /** `[oslo_messaging_notifications] topics`. */
  topics?: string[];
  /** `messagingv2` (default) or the legacy `messaging` driver (1.0, no envelope). */
  driver?: 'messagingv2' | 'messaging';
  /**
   * Declare the shared `notifications.<priority>` queue on first send, as oslo does. Tests
   * that publish to a throw-away exchange may turn it off so the shared queue on the
   * machine's broker does not fill up.
   */
  declareDefaultQueue?: boolean;
  /** How long a publish keeps reconnecting after the broker went away; default 60 s. */
  reconnectForMs?: number;
}

/** A published notification, kept so tests can compare what they receive. */
export interface PublishedNotification {
  exchange: string;
  routingKey: string;
  body: string;
  messageId: string;
  eventType: string;
}

/** The emulated Cinder's notifier. */
export class OsloNotifier {
  readonly published: PublishedNotification[] = [];
  private readonly declared = new Set<string>();
  private exchangeDeclared = false;
  private conn: ChannelModel | null = null;
  private channel: ConfirmChannel | null = null;
  private closed = false;
  /** Times the notifier had to connect again after losing the broker. */
  reconnects = 0;
  private connectedOnce = false;
  /** `connection_name` client property: lets a test find and kill this connection. */
  readonly connectionName = `clb-openstack-emulator-notifier-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;

  private constructor(
    private readonly url: string,
    readonly exchange: string,
    private readonly topics: string[],
    private readonly driver: 'messagingv2' | 'messaging',
    private readonly declareDefaultQueue: boolean,
    /** How long a publish keeps trying to reach the broker (oslo's `retry = -1` is forever). */
    private readonly reconnectForMs: number,
  ) {}

  static async connect(options: NotifierOptions = {}): Promise<OsloNotifier> {
    const url = options.url ?? process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
    const n = new OsloNotifier(
      url,
      options.exchange ?? 'openstack',
      options.topics ?? ['notifications'],
      options.driver ?? 'messagingv2',
      options.declareDefaultQueue ?? true,
      options.reconnectForMs ?? 60_000,
    );
    try {
      await n.open();
    } catch (err) {
      throw new Error(
        `OpenStack emulator: RabbitMQ is not reachable at ${url.replace(/\/\/[^@]*@/, '//')}; ` +
          'the notifier publishes to the real broker (start RabbitMQ or pass notifier: false)',
        { cause: err },
      );
    }
    return n;
  }

  private async open(): Promise<ConfirmChannel> {
    if (this.channel !== null) return this.channel;
    const conn = await amqp.connect(this.url, {
      clientProperties: { connection_name: this.connectionName },
    });
    if (this.connectedOnce) this.reconnects += 1;
    this.connectedOnce = true;
    // A lost connection is noticed here and re-opened on the next publish, as kombu does.
    conn.on('error', () => undefined);
    conn.on('close', () => {
      if (this.conn === conn) this.drop();
    });
    // A confirm channel only makes publish() wait for the broker; nothing changes on the wire.
    const channel = await conn.createConfirmChannel();
    channel.on('error', () => undefined);
    channel.on('close', () => {
      if (this.channel === channel) this.drop();
    });
    this.conn = conn;
    this.channel = channel;
    return channel;
  }

  private drop(): void {
    const conn = this.conn;
    this.conn = null;
    this.channel = null;
    this.exchangeDeclared = false;
    this.declared.clear();
    void conn?.close().catch(() => undefined);
  }

  /** Sends one notification to each configured topic; resolves once the broker has it. */
  async notify(args: {
    publisherId: string;
    eventType: string;
    priority: Priority;
    payload: Json;
    context: NotificationContext;
    now: Date;
  }): Promise<string[]> {
    const ids: string[] = [];
    for (const topic of this.topics) {
      const inner = innerMessage(args);
      const body = this.driver === 'messagingv2' ? envelopeV2(inner) : envelopeV1(inner);
      const key = routingKey(topic, args.priority);
      await this.publishRaw(key, body);
      const messageId = inner['message_id'] as string;
      this.published.push({
        exchange: this.exchange,
        routingKey: key,
        body,
        messageId,
        eventType: args.eventType,
      });
      ids.push(messageId);
    }
    return ids;
  }

  /**
   * Publishes any body (for tests of malformed messages) with oslo's declarations. When the
   * broker is gone (restarted), connects again and re-sends until `reconnectForMs` passes.
   */
  async publishRaw(key: string, body: string | Buffer): Promise<void> {
    const deadline = Date.now() + this.reconnectForMs;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error('the emulator notifier is closed');
      try {
        await this.publishOnce(key, body);
        return;
      } catch (err) {
        this.drop();
        if (Date.now() >= deadline) throw toError(err);
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 1000)));
      }
    }
  }

  private async publishOnce(key: string, body: string | Buffer): Promise<void> {
    const channel = await this.open();
    if (!this.exchangeDeclared) {
      await channel.assertExchange(this.exchange, 'topic', { durable: false, autoDelete: false });
      this.exchangeDeclared = true;
    }
    if (this.declareDefaultQueue && !this.declared.has(key)) {
      await channel.assertQueue(key, { durable: false, autoDelete: false });
      await channel.bindQueue(key, this.exchange, key);
      this.declared.add(key);
    }
    await new Promise<void>((resolve, reject) => {
      channel.publish(
        this.exchange,
        key,
        typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
        // kombu's json serializer; delivery_mode 2 is kombu's default (derived, see A.3).
        { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 },
        (err) => (err === null || err === undefined ? resolve() : reject(toError(err))),
      );
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    const conn = this.conn;
    this.channel = null;
    this.conn = null;
    await channel?.close().catch(() => undefined);
    await conn?.close().catch(() => undefined);
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
