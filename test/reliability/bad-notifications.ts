/**
 * The malformed notifications of the bad-input scenario: the consumer tests' corpus
 * (test/notifications/bad-messages.ts) and more kinds of its own, each with the AMQP
 * properties it is published with. Every kind is named and enumerated here; none is random.
 *
 * What the product does with each (src/notifications/): a message that cannot be decoded,
 * is not believed (another broker user, a timestamp from the future) or whose payload does
 * not validate is dead-lettered with the reason in `x-clb-reason` (and a row in
 * dead_notifications); an event that says nothing about volumes is acknowledged and recorded
 * as `ignored` in the ledger, the reason in the consumer's log line.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { badMessages } from '../notifications/bad-messages.js';

export interface BadNotification {
  name: string;
  body: Buffer;
  /** AMQP properties besides the test's own header. */
  properties?: { contentType?: string; contentEncoding?: string; userId?: string };
  expect: 'dead-letter' | 'ignored';
  reason: RegExp;
  /** The oslo message_id inside, when it has one (to find it in the ledger). */
  messageId?: string;
}

const VOL = '22222222-3333-4444-8555-666666666666';

function payload(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tenant_id: 'a6944d763bf64ee6a275f1263fae0352',
    host: 'stor1@lvm#LVM',
    volume_id: VOL,
    display_name: 'db',
    status: 'available',
    size: 10,
    metadata: [{ key: 'backup', value: 'daily' }],
    volume_attachment: [],
    ...over,
  };
}

function osloTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** The inner oslo message of a volume event, with overrides (undefined removes a field). */
function inner(over: Record<string, unknown> = {}, pay: Record<string, unknown> = {}) {
  return {
    message_id: randomUUID(),
    publisher_id: 'volume.stor1@lvm',
    event_type: 'volume.update.end',
    priority: 'INFO',
    timestamp: '2026-11-26 14:12:47.638669',
    payload: payload(pay),
    ...over,
  };
}

function v2(message: Record<string, unknown>): Buffer {
  return Buffer.from(
    JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) }),
  );
}

function kind(
  name: string,
  message: Record<string, unknown>,
  reason: RegExp,
  expect: BadNotification['expect'] = 'dead-letter',
): BadNotification {
  const id = message['message_id'];
  return {
    name,
    body: v2(message),
    expect,
    reason,
    ...(typeof id === 'string' ? { messageId: id } : {}),
  };
}

/** The kinds this scenario adds to the consumer tests' corpus. */
function moreKinds(): BadNotification[] {
  const future = osloTime(new Date(Date.now() + 86_400_000));
  const raw = (s: string): Buffer => Buffer.from(s);
  const good = inner();
  return [
    {
      name: 'oslo.version is a number',
      body: raw(JSON.stringify({ 'oslo.version': 2, 'oslo.message': JSON.stringify(good) })),
      expect: 'dead-letter',
      reason: /unsupported oslo.version/,
    },
    {
      name: 'oslo.message without oslo.version',
      body: raw(JSON.stringify({ 'oslo.message': JSON.stringify(good) })),
      expect: 'dead-letter',
      reason: /unsupported oslo.version/,
    },
    {
      name: 'oslo.message is null',
      body: raw(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': null })),
      expect: 'dead-letter',
      reason: /oslo.message is not a string/,
    },
    {
      name: 'oslo.message is a JSON array',
      body: raw(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '[1,2]' })),
      expect: 'dead-letter',
      reason: /oslo.message is not a JSON object/,
    },
    {
      name: 'oslo.message is double-encoded',
      body: raw(
        JSON.stringify({
          'oslo.version': '2.0',
          'oslo.message': JSON.stringify(JSON.stringify(good)),
        }),
      ),
      expect: 'dead-letter',
      reason: /oslo.message is not a JSON object/,
    },
    { name: 'body is JSON null', body: raw('null'), expect: 'dead-letter', reason: /not a JSON/ },
    {
      name: 'an empty object (1.0 envelope, nothing in it)',
      body: raw('{}'),
      expect: 'dead-letter',
      reason: /message_id/,
    },
    {
      name: 'a byte-order mark before the JSON',
      body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), v2(inner())]),
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    {
      name: 'UTF-16 encoded JSON',
      body: Buffer.from(v2(inner()).toString('utf8'), 'utf16le'),
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    {
      name: 'gzip body announced by content-encoding',
      body: gzipSync(v2(inner())),
      properties: { contentType: 'application/json', contentEncoding: 'gzip' },
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    {
      name: 'a pickle announced as such',
      body: Buffer.from([0x80, 0x04, 0x95, 0x10, 0x00, 0x00, 0x00, 0x7d, 0x94, 0x2e]),
      properties: { contentType: 'application/x-python-serialize' },
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    {
      name: 'text/plain shell line',
      body: raw('volume.create.end; touch /tmp/x'),
      properties: { contentType: 'text/plain' },
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    {
      name: 'published by another broker user',
      body: v2(inner()),
      properties: { userId: 'guest' },
      expect: 'dead-letter',
      reason: /broker user "guest"/,
    },
    kind('message_id of 129 characters', inner({ message_id: 'm'.repeat(129) }), /message_id/),
    kind('message_id empty', inner({ message_id: '' }), /message_id/),
    kind('event_type a number', inner({ event_type: 7 }), /event_type/),
    kind('event_type of 200 characters', inner({ event_type: 'v.'.repeat(100) }), /event_type/),
    kind('event_type with non-ASCII', inner({ event_type: 'volume.créate.end' }), /event_type/),
    kind('event_type with a path', inner({ event_type: '../../volume.create.end' }), /event_type/),
    kind('priority a number', inner({ priority: 3 }), /priority/),
    kind('payload null', inner({ payload: null }), /payload/),
    kind('payload a list', inner({ payload: [payload()] }), /payload/),
    kind('timestamp a number', inner({ timestamp: 1764166367 }), /timestamp/),
    kind('timestamp in year 10000', inner({ timestamp: '10000-01-01 00:00:00' }), /timestamp/),
    kind(
      'timestamp with SQL after it',
      inner({ timestamp: "2026-11-26 14:12:47'; DROP TABLE volumes; --" }),
      /timestamp is malformed/,
    ),
    kind('timestamp a day in the future', inner({ timestamp: future }), /in the future/),
    kind('timestamp in 9999', inner({ timestamp: '9999-12-31 23:59:59.999999' }), /in the future/),
    kind('publisher_id a number', inner({ publisher_id: 12 }), /publisher_id/),
    kind('tenant_id with a newline', inner({}, { tenant_id: 'a6944d\n763b' }), /tenant_id/),
    kind('tenant_id of 300 characters', inner({}, { tenant_id: 't'.repeat(300) }), /tenant_id/),
    kind('volume_id with a trailing newline', inner({}, { volume_id: `${VOL}\n` }), /volume_id/),
    kind('volume_id a path', inner({}, { volume_id: '../../../etc/passwd' }), /volume_id/),
    kind('volume_id empty', inner({}, { volume_id: '' }), /volume_id/),
    kind('volume_id a number', inner({}, { volume_id: 1 }), /volume_id/),
    kind('volume_id a list of UUIDs', inner({}, { volume_id: [VOL, VOL] }), /volume_id/),
    kind('size 1.5', inner({}, { size: 1.5 }), /size/),
    kind('size 10^12 GiB', inner({}, { size: 1e12 }), /size/),
    kind('status upper case', inner({}, { status: 'AVAILABLE' }), /status/),
    kind('status with shell characters', inner({}, { status: 'in-use;reboot' }), /status/),
    kind('host a number', inner({}, { host: 5 }), /host/),
    kind('host of 300 characters', inner({}, { host: 'h'.repeat(300) }), /host/),
    kind('display_name a number', inner({}, { display_name: 5 }), /display_name/),
    kind(
      'volume_type of 100 characters',
      inner({}, { volume_type: 'y'.repeat(100) }),
      /volume_type/,
    ),
    kind('metadata key empty', inner({}, { metadata: [{ key: '', value: 'x' }] }), /metadata key/),
    kind(
      'metadata key a number',
      inner({}, { metadata: [{ key: 1, value: 'x' }] }),
      /metadata key/,
    ),
    kind('metadata value null', inner({}, { metadata: { backup: null } }), /metadata value/),
    kind('metadata item null', inner({}, { metadata: [null] }), /metadata item/),
    kind(
      'metadata key of 300 characters',
      inner({}, { metadata: [{ key: `backup:${'k'.repeat(300)}`, value: 'x' }] }),
      /longer than 255/,
    ),
    kind(
      'metadata key with a NUL',
      inner({}, { metadata: [{ key: 'backup\u0000', value: 'daily' }] }),
      /control character/,
    ),
    kind('volume_attachment an object', inner({}, { volume_attachment: {} }), /volume_attachment/),
    kind(
      'volume_attachment of 100 rows',
      inner(
        {},
        {
          volume_attachment: Array.from({ length: 100 }, () => ({
            id: randomUUID(),
            instance_uuid: randomUUID(),
            attach_status: 'attached',
          })),
        },
      ),
      /volume_attachment/,
    ),
    kind(
      'attachment id of 100 characters',
      inner(
        {},
        {
          volume_attachment: [
            { id: 'a'.repeat(100), instance_uuid: randomUUID(), attach_status: 'attached' },
          ],
        },
      ),
      /volume_attachment id/,
    ),
    kind(
      'delete.end whose volume_id is SQL',
      inner({ event_type: 'volume.delete.end' }, { volume_id: "x' OR '1'='1" }),
      /volume_id/,
    ),
    kind(
      'snapshot event whose snapshot_id is a path',
      inner({ event_type: 'snapshot.create.end' }, { snapshot_id: '../../x', volume_id: VOL }),
      /snapshot_id/,
    ),
    kind(
      'scheduler.create_volume without volume_id',
      inner({ event_type: 'scheduler.create_volume', priority: 'ERROR' }, { volume_id: null }),
      /volume_id/,
    ),
    {
      name: 'a payload nested 100,000 deep',
      body: raw(
        `{"oslo.version":"2.0","oslo.message":${JSON.stringify(
          `{"message_id":"${randomUUID()}","event_type":"volume.update.end","priority":"INFO","timestamp":"2026-11-26 14:12:47","payload":{"volume_id":"${VOL}","deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
        )}}`,
      ),
      expect: 'dead-letter',
      reason: /tenant_id|not JSON/,
    },
    kind(
      'a payload of 30,000 keys and no volume_id',
      inner(
        {},
        {
          ...Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`k${i}`, i])),
          volume_id: undefined,
        },
      ),
      /volume_id|exceeds/,
    ),
    {
      name: 'a body one byte over the limit',
      body: Buffer.alloc(1024 * 1024 + 1, 0x20),
      expect: 'dead-letter',
      reason: /exceeds the .*-byte limit/,
    },
    {
      name: 'a body of 8 MiB',
      body: v2(inner({}, { display_name: 'z'.repeat(8 * 1024 * 1024) })),
      expect: 'dead-letter',
      reason: /exceeds the .*-byte limit/,
    },
    kind(
      'an event type no one sends (volume.usage.audit)',
      inner({ event_type: 'volume.usage.audit' }),
      /does not change/,
      'ignored',
    ),
    kind(
      'a Nova event on the Cinder exchange',
      inner({ event_type: 'compute.instance.create.end', payload: { instance_id: 'x' } }),
      /does not change/,
      'ignored',
    ),
  ];
}

/**
 * Every kind, fresh message ids. The consumer tests' "hostile but well-formed metadata" is
 * left out: it is a valid event of a volume this cloud lacks, not a malformed message (the
 * scenario sends hostile metadata through real volume updates instead).
 */
export function badNotifications(): BadNotification[] {
  const fromConsumerTests: BadNotification[] = badMessages()
    .filter((m) => !m.name.startsWith('hostile but well-formed'))
    .map((m) => {
      let messageId: string | undefined;
      try {
        const outer = JSON.parse(m.body.toString('utf8')) as Record<string, unknown>;
        const msg = JSON.parse(String(outer['oslo.message'])) as Record<string, unknown>;
        if (typeof msg['message_id'] === 'string') messageId = msg['message_id'];
      } catch {
        // not JSON, or no inner message: found by its header alone
      }
      return { ...m, ...(messageId === undefined ? {} : { messageId }) };
    });
  return [...fromConsumerTests, ...moreKinds()];
}
