/**
 * Timestamps as oslo.messaging and Cinder write them.
 *
 * The message `timestamp` is Python `str(datetime.utcnow())`: `2026-11-26 14:12:47.638669`,
 * space-separated, no zone, microseconds left out when zero. It is UTC, but JavaScript's
 * `new Date()` reads that form as LOCAL time (openstack-wire.md G), so it is parsed here by
 * hand. Payload fields (`created_at`) come as ISO 8601, with `+00:00` from a real Cinder 21
 * and naive in the source-derived reference; both are accepted, naive meaning UTC.
 */

const FORM =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/** Parses an oslo/Cinder timestamp as UTC (or with its explicit offset); null if malformed. */
export function parseOsloTimestamp(text: string): Date | null {
  const m = FORM.exec(text.trim());
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  // Date.UTC rolls over out-of-range fields (month 13, Feb 30): refuse those instead.
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    return null;
  }
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
  }
  return new Date(utc - offsetMinutes * 60_000);
}
