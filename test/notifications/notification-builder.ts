/**
 * Builds Cinder volume notifications the way a real Cinder sends them (as in
 * test/fixtures/cinder-notifications: 2.0 envelope, space-separated UTC timestamp, metadata
 * as a list of {key, value}, attachment rows with credentials in connection_info), and
 * publishes them to RabbitMQ with confirms.
 */
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';

export const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface VolumeEventSpec {
  eventType: string;
  volumeId: string;
  at: Date;
  status?: string;
  size?: number;
  host?: string | null;
  name?: string;
  metadata?: Record<string, string>;
  attachedTo?: string | null;
  volumeType?: string;
  messageId?: string;
}

function osloTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '').concat('000');
}

/** The oslo 2.0 body of a volume event. */
export function volumeEvent(s: VolumeEventSpec): { body: Buffer; messageId: string } {
  const messageId = s.messageId ?? randomUUID();
  const payload = {
    tenant_id: 'a6944d763bf64ee6a275f1263fae0352',
    host: s.host === undefined ? 'stor1@lvm#LVM' : s.host,
    user_id: 'ee4dfb6e5540447cb3741905149d9b6e',
    availability_zone: 'nova',
    volume_id: s.volumeId,
    volume_type: s.volumeType ?? '5fed9d7c-401d-46e2-8e80-f30c70cb7e1d',
    display_name: s.name ?? 'db01-data',
    launched_at: '2026-11-26T14:12:47.633290+00:00',
    created_at: '2026-11-26T14:12:47.469073+00:00',
    status: s.status ?? 'available',
    snapshot_id: null,
    size: s.size ?? 10,
    replication_status: null,
    replication_extended_status: null,
    replication_driver_data: null,
    metadata: Object.entries(s.metadata ?? {}).map(([key, value]) => ({ key, value })),
    volume_attachment:
      s.attachedTo == null
        ? []
        : [
            {
              id: randomUUID(),
              volume_id: s.volumeId,
              instance_uuid: s.attachedTo,
              attached_host: 'compute1',
              mountpoint: '/dev/vdb',
              attach_status: 'attached',
              attach_mode: 'rw',
              connection_info:
                '{"driver_volume_type": "iscsi", "data": {"auth_password": "chap-secret-123"}}',
              volume: { id: s.volumeId, provider_auth: 'CHAP user chap-secret-123' },
            },
          ],
  };
  const inner = {
    message_id: messageId,
    publisher_id: 'volume.stor1@lvm',
    event_type: s.eventType,
    priority: 'INFO',
    payload,
    timestamp: osloTime(s.at),
    _unique_id: randomUUID().replace(/-/g, ''),
    _context_auth_token: null,
  };
  return {
    body: Buffer.from(
      JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(inner) }),
    ),
    messageId,
  };
}

/** A publisher on a confirm channel, declaring the exchange as oslo does (topic, non-durable). */
export class TestPublisher {
  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: ConfirmChannel,
    readonly exchange: string,
  ) {}

  static async open(exchange: string, url = AMQP_URL): Promise<TestPublisher> {
    let conn: ChannelModel;
    try {
      conn = await amqp.connect(url);
    } catch (err) {
      throw new Error(
        `RabbitMQ is not reachable at ${url} (${(err as Error).message}); start it before these tests`,
        {
          cause: err,
        },
      );
    }
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
    return new TestPublisher(conn, ch, exchange);
  }

  /** Publishes and waits for the broker's confirms. Persistent, as kombu's default. */
  async publish(bodies: Buffer[], routingKey = 'notifications.info'): Promise<void> {
    for (const body of bodies) {
      this.ch.publish(this.exchange, routingKey, body, {
        contentType: 'application/json',
        persistent: true,
      });
    }
    await this.ch.waitForConfirms();
  }

  get channel(): ConfirmChannel {
    return this.ch;
  }

  async close(): Promise<void> {
    await this.ch.close().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

/** Deletes test queues and the exchange (best effort). */
export async function deleteTopology(
  exchange: string,
  queues: string[],
  url = AMQP_URL,
): Promise<void> {
  const conn = await amqp.connect(url);
  conn.on('error', () => undefined);
  try {
    for (const q of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.deleteExchange(exchange).catch(() => undefined);
    await ch.close().catch(() => undefined);
  } finally {
    await conn.close().catch(() => undefined);
  }
}
