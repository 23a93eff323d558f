/**
 * A corpus of messages a consumer must survive: each is either refused by decoding or
 * validation (→ dead-letter with a reason) or ignored as not about volumes (→ ack), never a
 * crash. Used by the pure tests and by the consumer's integration test.
 */
import { randomUUID } from 'node:crypto';

export interface BadMessage {
  name: string;
  body: Buffer;
  /** 'dead-letter': refused with a reason; 'ignored': acknowledged as irrelevant. */
  expect: 'dead-letter' | 'ignored';
  /** Part of the reason the consumer must give. */
  reason: RegExp;
}

const VOL = '11111111-2222-4333-8444-555555555555';

function inner(
  overrides: Record<string, unknown>,
  payloadOverrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    message_id: randomUUID(),
    publisher_id: 'volume.stor1@lvm#LVM',
    event_type: 'volume.attach.end',
    priority: 'INFO',
    timestamp: '2026-11-26 14:12:47.638669',
    payload: {
      tenant_id: 'a6944d763bf64ee6a275f1263fae0352',
      host: 'stor1@lvm#LVM',
      volume_id: VOL,
      display_name: 'db',
      status: 'in-use',
      size: 10,
      metadata: [{ key: 'backup', value: 'daily' }],
      volume_attachment: [],
      ...payloadOverrides,
    },
    ...overrides,
  };
}

function v2(message: Record<string, unknown>): Buffer {
  return Buffer.from(
    JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) }),
  );
}

const raw = (s: string): Buffer => Buffer.from(s);

/** Builds the corpus; message ids are fresh on each call. */
export function badMessages(): BadMessage[] {
  return [
    {
      name: 'not JSON',
      body: raw('this is not json {'),
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    { name: 'empty body', body: raw(''), expect: 'dead-letter', reason: /empty/ },
    {
      name: 'binary garbage',
      body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7b]),
      expect: 'dead-letter',
      reason: /not JSON/,
    },
    {
      name: 'a JSON array',
      body: raw('[1,2,3]'),
      expect: 'dead-letter',
      reason: /not a JSON object/,
    },
    {
      name: 'a JSON string',
      body: raw('"hello"'),
      expect: 'dead-letter',
      reason: /not a JSON object/,
    },
    {
      name: 'wrong envelope version',
      body: raw(JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{}' })),
      expect: 'dead-letter',
      reason: /unsupported oslo.version/,
    },
    {
      name: 'oslo.message is an object, not a string',
      body: raw(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': inner({}) })),
      expect: 'dead-letter',
      reason: /oslo.message is not a string/,
    },
    {
      name: 'oslo.message is not JSON',
      body: raw(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{nope' })),
      expect: 'dead-letter',
      reason: /oslo.message is not JSON/,
    },
    {
      name: 'missing message_id',
      body: v2(inner({ message_id: undefined })),
      expect: 'dead-letter',
      reason: /message_id/,
    },
    {
      name: 'numeric message_id',
      body: v2(inner({ message_id: 42 })),
      expect: 'dead-letter',
      reason: /message_id/,
    },
    {
      name: 'missing event_type',
      body: v2(inner({ event_type: undefined })),
      expect: 'dead-letter',
      reason: /event_type/,
    },
    {
      name: 'event_type with shell characters',
      body: v2(inner({ event_type: 'volume.attach.end; rm -rf /' })),
      expect: 'dead-letter',
      reason: /event_type/,
    },
    {
      name: 'unknown priority',
      body: v2(inner({ priority: 'LOUD' })),
      expect: 'dead-letter',
      reason: /priority/,
    },
    {
      name: 'payload is a string',
      body: v2(inner({ payload: 'x' })),
      expect: 'dead-letter',
      reason: /payload/,
    },
    {
      name: 'missing timestamp',
      body: v2(inner({ timestamp: undefined })),
      expect: 'dead-letter',
      reason: /timestamp is missing/,
    },
    {
      name: 'impossible timestamp',
      body: v2(inner({ timestamp: '2026-02-30 10:00:00' })),
      expect: 'dead-letter',
      reason: /timestamp is malformed/,
    },
    {
      name: 'volume_id not a UUID',
      body: v2(inner({}, { volume_id: "1' OR '1'='1" })),
      expect: 'dead-letter',
      reason: /volume_id/,
    },
    {
      name: 'size is a string',
      body: v2(inner({}, { size: '10' })),
      expect: 'dead-letter',
      reason: /size/,
    },
    {
      name: 'negative size',
      body: v2(inner({}, { size: -1 })),
      expect: 'dead-letter',
      reason: /size/,
    },
    {
      name: 'missing tenant',
      body: v2(inner({}, { tenant_id: undefined })),
      expect: 'dead-letter',
      reason: /tenant_id/,
    },
    {
      name: 'status with spaces',
      body: v2(inner({}, { status: 'in use now' })),
      expect: 'dead-letter',
      reason: /status/,
    },
    {
      name: 'metadata is a number',
      body: v2(inner({}, { metadata: 5 })),
      expect: 'dead-letter',
      reason: /metadata/,
    },
    {
      name: 'metadata value is an object',
      body: v2(inner({}, { metadata: [{ key: 'backup', value: { $ne: 1 } }] })),
      expect: 'dead-letter',
      reason: /metadata value is not a string/,
    },
    {
      name: 'metadata value too long',
      body: v2(inner({}, { metadata: [{ key: 'backup', value: 'd'.repeat(300) }] })),
      expect: 'dead-letter',
      reason: /longer than 255/,
    },
    {
      name: 'metadata key with a newline',
      body: v2(inner({}, { metadata: [{ key: 'backup\nx', value: 'daily' }] })),
      expect: 'dead-letter',
      reason: /control character/,
    },
    {
      name: 'too many metadata entries',
      body: v2(
        inner(
          {},
          { metadata: Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: 'v' })) },
        ),
      ),
      expect: 'dead-letter',
      reason: /more than 256 entries/,
    },
    {
      name: 'host with a control character',
      body: v2(inner({}, { host: 'stor1@lvm\u0000#LVM' })),
      expect: 'dead-letter',
      reason: /host/,
    },
    {
      name: 'attachment rows of the wrong type',
      body: v2(
        inner(
          {},
          { volume_attachment: [{ attach_status: 'attached', id: 1, instance_uuid: null }] },
        ),
      ),
      expect: 'dead-letter',
      reason: /volume_attachment/,
    },
    {
      name: 'a huge body',
      body: v2(inner({}, { display_name: 'x'.repeat(2 * 1024 * 1024) })),
      expect: 'dead-letter',
      reason: /exceeds the .*-byte limit/,
    },
    {
      name: 'a deeply nested payload',
      body: raw(
        `{"oslo.version":"2.0","oslo.message":${JSON.stringify(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`)}}`,
      ),
      expect: 'dead-letter',
      reason: /message_id/,
    },
    {
      name: 'an unknown event type',
      body: v2(inner({ event_type: 'volume.frobnicate.end' })),
      expect: 'ignored',
      reason: /does not change/,
    },
    {
      name: 'a non-volume event',
      body: v2(inner({ event_type: 'backup.create.end', payload: { backup_id: 'x' } })),
      expect: 'ignored',
      reason: /does not change/,
    },
    {
      name: 'hostile but well-formed metadata (policy error, not a message error)',
      body: v2(
        inner(
          { event_type: 'volume.update.end' },
          {
            metadata: [
              { key: 'backup', value: '$(reboot)' },
              { key: 'backup:exclude', value: '../../etc/shadow' },
              { key: '__proto__', value: 'polluted' },
            ],
          },
        ),
      ),
      expect: 'ignored',
      reason: /applied/,
    },
  ];
}
