/**
 * Decoding of an AMQP message body into an oslo.messaging notification.
 *
 * - 2.0 (driver `messagingv2`): `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}`,
 *   so the inner message needs a second JSON.parse (openstack-wire.md A.3).
 * - 1.0 (driver `messaging`): the inner dict itself.
 * The inner dict carries message_id, publisher_id, event_type, priority (upper case),
 * payload and timestamp (`2026-11-26 14:12:47.638669`, UTC), plus `_context_*` keys we ignore.
 * Every failure returns a reason meant for logs and dead-letter headers: it never quotes the
 * body (attachment rows carry target credentials). NUL and lone surrogates in any string are
 * replaced (storable-text.ts): Postgres cannot keep them.
 */
import { parseOsloTimestamp } from './oslo-timestamp.js';
import { isRecord } from '../is-record.js';
import { makeStorable } from '../storable-text.js';

/** A decoded notification; `payload` is still unvalidated JSON. */
export interface OsloNotification {
  envelopeVersion: '1.0' | '2.0';
  messageId: string;
  publisherId: string;
  eventType: string;
  /** Upper case as sent: INFO, ERROR, WARN... */
  priority: string;
  timestamp: Date;
  payload: Record<string, unknown>;
}

export type DecodeResult =
  { ok: true; notification: OsloNotification } | { ok: false; reason: string };

/** Bodies larger than this are refused undecoded: a Cinder notification is a few KiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const EVENT_TYPE = /^[A-Za-z0-9_.-]{1,128}$/;
const PRIORITIES = new Set([
  'DEBUG',
  'INFO',
  'AUDIT',
  'WARN',
  'WARNING',
  'ERROR',
  'CRITICAL',
  'SAMPLE',
]);

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Decodes a message body (a Buffer from amqplib, or a string in tests). */
export function decodeNotification(
  body: Buffer | string,
  options: { maxBytes?: number } = {},
): DecodeResult {
  const max = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > max)
    return { ok: false, reason: `body of ${size} bytes exceeds the ${max}-byte limit` };
  if (size === 0) return { ok: false, reason: 'body is empty' };
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const outer = parseJson(text);
  if (!outer.ok) return { ok: false, reason: 'body is not JSON' };
  if (!isRecord(outer.value)) return { ok: false, reason: 'body is not a JSON object' };

  let inner: Record<string, unknown>;
  let envelopeVersion: '1.0' | '2.0';
  const envelope = outer.value;
  if ('oslo.version' in envelope || 'oslo.message' in envelope) {
    if (envelope['oslo.version'] !== '2.0') {
      return {
        ok: false,
        reason: `unsupported oslo.version ${JSON.stringify(envelope['oslo.version'])?.slice(0, 20) ?? 'undefined'}`,
      };
    }
    const message = envelope['oslo.message'];
    if (typeof message !== 'string') return { ok: false, reason: 'oslo.message is not a string' };
    const parsed = parseJson(message);
    if (!parsed.ok) return { ok: false, reason: 'oslo.message is not JSON' };
    if (!isRecord(parsed.value)) return { ok: false, reason: 'oslo.message is not a JSON object' };
    inner = parsed.value;
    envelopeVersion = '2.0';
  } else {
    inner = envelope;
    envelopeVersion = '1.0';
  }

  // Strings Postgres cannot keep (NUL, lone surrogates) would fail the batch's transaction.
  makeStorable(inner);
  const { message_id: messageId, event_type: eventType, priority, payload } = inner;
  const publisherId = inner['publisher_id'];
  const timestampText = inner['timestamp'];
  if (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > 128) {
    return { ok: false, reason: 'message_id is missing or not a string of 1-128 characters' };
  }
  if (typeof eventType !== 'string' || !EVENT_TYPE.test(eventType)) {
    return { ok: false, reason: 'event_type is missing or malformed' };
  }
  if (typeof priority !== 'string' || !PRIORITIES.has(priority.toUpperCase())) {
    return { ok: false, reason: 'priority is missing or not an oslo priority' };
  }
  if (!isRecord(payload)) return { ok: false, reason: `payload of ${eventType} is not an object` };
  if (typeof timestampText !== 'string') return { ok: false, reason: 'timestamp is missing' };
  const timestamp = parseOsloTimestamp(timestampText);
  if (timestamp === null) return { ok: false, reason: 'timestamp is malformed' };
  if (publisherId !== undefined && publisherId !== null && typeof publisherId !== 'string') {
    return { ok: false, reason: 'publisher_id is not a string' };
  }
  return {
    ok: true,
    notification: {
      envelopeVersion,
      messageId,
      publisherId: typeof publisherId === 'string' ? publisherId.slice(0, 255) : '',
      eventType,
      priority: priority.toUpperCase(),
      timestamp,
      payload,
    },
  };
}
