/**
 * Text as Postgres can keep it. `text` and `jsonb` refuse U+0000, and `jsonb` refuses a lone
 * UTF-16 surrogate (JSON.stringify writes it as `\ud800`). Cinder keeps both in a volume's
 * name or metadata, so one tenant's tag holding either made every inventory write that
 * carried it fail: the whole poll (all volumes of the cloud, one transaction) and the batch
 * of notifications around it (test/reliability/bad-input.test.ts).
 *
 * NUL becomes U+001A (SUBSTITUTE: still a control character, so the policy parser still
 * refuses a backup value holding it, with the same reason), and a lone surrogate U+FFFD, as
 * any UTF-8 encoder writes it. Pure.
 */
import { isRecord } from './is-record.js';

// eslint-disable-next-line no-control-regex -- finding NUL is the point
const SUSPECT = /[\u0000\ud800-\udfff]/;
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- finding NUL is the point
  /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `s` with NUL and lone surrogates replaced (the same string when it has none). */
export function storableText(s: string): string {
  if (!SUSPECT.test(s)) return s;
  return s.replace(UNSTORABLE, (c) => (c === '\u0000' ? '\u001a' : '\ufffd'));
}

/**
 * Makes every string of a freshly parsed JSON value storable, keys included, in place, and
 * returns it. Iterative: a payload nested thousands deep must not exhaust the stack.
 */
export function makeStorable<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i += 1) {
        const x: unknown = v[i];
        if (typeof x === 'string') v[i] = storableText(x);
        else if (typeof x === 'object' && x !== null) stack.push(x);
      }
    } else if (isRecord(v)) {
      for (const key of Object.keys(v)) {
        const x = v[key];
        let k = key;
        if (SUSPECT.test(key)) {
          k = storableText(key);
          delete v[key];
        }
        const stored = typeof x === 'string' ? storableText(x) : x;
        if (k !== key || stored !== x) {
          // defineProperty: a key is data, whatever its name (never the prototype setter).
          Object.defineProperty(v, k, {
            value: stored,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
  return value;
}
