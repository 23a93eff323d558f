/**
 * What goes to the dead-letter queue in place of the body (pure): the same JSON with every
 * secret-looking field replaced. Cinder's attachment rows carry target credentials in
 * `connection_info` (and `provider_auth`); a dead-letter queue is read by people and kept
 * for days, so they never reach it. The oslo 2.0 envelope's inner message (a JSON string)
 * is scrubbed too. A body that is not JSON is kept as it is: nothing in it could be found
 * by field name.
 */

/** Keys whose values are removed, wherever they are in the message. */
const SECRET_KEY =
  /connection_info|provider_auth|password|passwd|secret|token|credential|auth_key|private_key/i;

export const REMOVED = '[removed by cinder-lvm-backup]';

function scrub(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(scrub);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (SECRET_KEY.test(k)) out[k] = REMOVED;
    else if (k === 'oslo.message' && typeof x === 'string') out[k] = scrubText(x) ?? x;
    else out[k] = scrub(x);
  }
  return out;
}

function scrubText(text: string): string | null {
  try {
    return JSON.stringify(scrub(JSON.parse(text) as unknown));
  } catch {
    return null;
  }
}

/** The body with secret-looking fields removed (unchanged when it is not JSON). */
export function scrubbedBody(body: Buffer): Buffer {
  const text = scrubText(body.toString('utf8'));
  return text === null ? body : Buffer.from(text, 'utf8');
}
