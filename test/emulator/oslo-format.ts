/**
 * How oslo.messaging and Cinder write a notification, byte for byte where it matters:
 * Python `json.dumps` spacing and ASCII escaping, `str(datetime)` timestamps, the 2.0
 * envelope with `oslo.message` as a JSON string, and the `_context_*` keys (wire reference
 * A.3; compared against shared/fixtures/cinder-notifications). Pure: no I/O.
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** A JSON value as the emulator builds payloads. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Python `json.dumps(v)` with its defaults: `", "`/`": "` separators, `ensure_ascii=True`. */
export function pythonJsonDumps(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pythonFloat(v);
  if (typeof v === 'string') return asciiString(v);
  if (Array.isArray(v)) return `[${v.map(pythonJsonDumps).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${asciiString(k)}: ${pythonJsonDumps(x)}`)
    .join(', ')}}`;
}

function pythonFloat(n: number): string {
  const s = String(n);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

function asciiString(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters as Python does;
  // ensure_ascii additionally writes every non-ASCII UTF-16 unit as \uXXXX.
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Six fractional digits, or none when they would all be zero (Python drops `.000000`). */
function pythonFraction(d: Date, subMicros: number): string {
  const micros = d.getUTCMilliseconds() * 1000 + subMicros;
  return micros === 0 ? '' : `.${String(micros).padStart(6, '0')}`;
}

/** Python `str(datetime.utcnow())`: `2026-11-26 14:13:39.623335`, space, no zone. */
export function osloTimestamp(d: Date, subMicros = 0): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}${pythonFraction(d, subMicros)}`;
}

/** `isoformat()` of an aware UTC datetime, as in the real payloads: `...T14:12:47.633290+00:00`. */
export function payloadTime(d: Date | null, subMicros = 0): string | null {
  if (d === null) return null;
  return `${d.toISOString().slice(0, 19)}${pythonFraction(d, subMicros)}+00:00`;
}

/** oslo.db row serialisation of a datetime (`%Y-%m-%dT%H:%M:%S.%f`, naive). */
export function rowTime(d: Date | null): string | null {
  if (d === null) return null;
  return `${d.toISOString().slice(0, 19)}.${String(d.getUTCMilliseconds() * 1000).padStart(6, '0')}`;
}

/** Who caused the event, as Cinder's RequestContext serialises it. */
export interface NotificationContext {
  userId: string;
  projectId: string;
  projectName: string;
  roles: string[];
  isAdmin: boolean;
  requestId?: string;
}

/** The top-level `_context_*` keys in the order a real Cinder 21 sent them. */
export function contextKeys(ctx: NotificationContext, now: Date): Record<string, Json> {
  return {
    _context_user: ctx.userId,
    _context_project_id: ctx.projectId,
    _context_system_scope: null,
    _context_project: ctx.projectId,
    _context_domain: null,
    _context_user_domain: null,
    _context_project_domain: null,
    _context_is_admin: ctx.isAdmin,
    _context_read_only: false,
    _context_show_deleted: false,
    // Redacted since oslo.messaging 14.4.0 (and absent from the real fixtures' values).
    _context_auth_token: null,
    _context_request_id: ctx.requestId ?? `req-${randomUUID()}`,
    _context_global_request_id: null,
    _context_resource_uuid: null,
    _context_roles: ctx.roles,
    _context_user_identity: `${ctx.userId} ${ctx.projectId} - - -`,
    _context_is_admin_project: true,
    _context_user_id: ctx.userId,
    _context_project_name: ctx.projectName,
    _context_domain_id: null,
    _context_read_deleted: 'no',
    _context_remote_address: null,
    _context_timestamp: `${now.toISOString().slice(0, 19)}.${String(now.getUTCMilliseconds() * 1000).padStart(6, '0')}`,
    _context_quota_class: null,
    _context_service_catalog: [],
    _context_message_resource_id: null,
    _context_message_resource_type: null,
    _context_message_action: null,
  };
}

/** Notification priorities as oslo writes them (upper case); routing keys use lower case. */
export type Priority = 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'DEBUG' | 'AUDIT' | 'SAMPLE';

/** The inner message (what `oslo.message` holds once decoded). */
export function innerMessage(args: {
  publisherId: string;
  eventType: string;
  priority: Priority;
  payload: Json;
  context: NotificationContext;
  now: Date;
  messageId?: string;
}): Record<string, Json> {
  return {
    message_id: args.messageId ?? randomUUID(),
    publisher_id: args.publisherId,
    event_type: args.eventType,
    priority: args.priority,
    payload: args.payload,
    timestamp: osloTimestamp(args.now, randomBytes(2).readUInt16BE(0) % 1000),
    _unique_id: randomBytes(16).toString('hex'),
    ...contextKeys(args.context, args.now),
  };
}

/** The AMQP body of a `messagingv2` notification: the 2.0 envelope. */
export function envelopeV2(inner: Record<string, Json>): string {
  return pythonJsonDumps({ 'oslo.version': '2.0', 'oslo.message': pythonJsonDumps(inner) });
}

/** The AMQP body of a legacy `messaging` (1.0) notification: the inner dict itself. */
export function envelopeV1(inner: Record<string, Json>): string {
  return pythonJsonDumps(inner);
}

/** Routing key for a topic and priority: `notifications.info`, `notifications.error`. */
export function routingKey(topic: string, priority: Priority): string {
  return `${topic}.${priority.toLowerCase()}`;
}
