/**
 * The kinds of values a setting can hold, as zod schemas from the text an operator writes
 * (an INI value or an environment variable) to the typed value the code uses. Each schema
 * carries its bounds, so a value out of range is refused with a reason that names them.
 * Pure: no I/O.
 */
import { z } from 'zod';
import { isValidTimeZone } from '../policy/time-zone.js';

/** A schema that reads a setting's text. */
export type TextSchema<T> = z.ZodType<T, string>;

const trimmed = z.string().transform((s) => s.trim());

/** Free text with a length bound (and an optional pattern, described for the message). */
export function text(
  o: { min?: number; max?: number; pattern?: RegExp; describe?: string } = {},
): TextSchema<string> {
  const min = o.min ?? 1;
  const max = o.max ?? 255;
  return trimmed.pipe(
    z
      .string()
      .min(min, min === 1 ? 'must not be empty' : `must have at least ${min} characters`)
      .max(max, `must have at most ${max} characters`)
      .regex(o.pattern ?? /[^]*/, `must be ${o.describe ?? 'well-formed'}`),
  );
}

/** A whole number from `min` to `max`. */
export function integer(min: number, max: number): TextSchema<number> {
  return trimmed
    .pipe(z.string().regex(/^\d+$/, `must be a whole number from ${min} to ${max}`))
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, `must be a whole number from ${min} to ${max}`)
        .max(max, `must be a whole number from ${min} to ${max}`),
    );
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `15m`, `2h`, `1d` → seconds; null when the text is no duration. */
export function parseDurationSeconds(value: string): number | null {
  const m = /^(\d{1,9})\s*([smhd]?)$/i.exec(value.trim());
  if (m === null) return null;
  return Number(m[1]) * (UNIT_SECONDS[(m[2] ?? '').toLowerCase() || 's'] ?? 1);
}

/** Describes a number of seconds the way an operator writes it (`90s`, `15m`, `2h`, `1d`). */
export function formatSeconds(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** A duration in seconds (plain seconds or with a unit s/m/h/d), from `min` to `max`. */
export function duration(min: number, max: number): TextSchema<number> {
  const range = `from ${formatSeconds(min)} to ${formatSeconds(max)}`;
  return trimmed
    .transform((s, ctx) => {
      const n = parseDurationSeconds(s);
      if (n === null) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a duration (seconds, or a number with s, m, h or d) ${range}`,
        });
        return z.NEVER;
      }
      return n;
    })
    .pipe(z.number().min(min, `must be ${range}`).max(max, `must be ${range}`));
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** `512`, `64K`, `2M`, `1.5G`, `1T`, `2P` (binary units, an optional trailing `iB` or `B`) → bytes. */
export function parseByteSize(value: string): number | null {
  const m = /^(\d{1,16}(?:\.\d{1,6})?)\s*([kmgtp]?)(?:i?b)?$/i.exec(value.trim());
  if (m === null) return null;
  return Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
}

/** A number of bytes (plain, or with K, M, G, T: powers of 1024), from `min` to `max`. */
export function byteSize(min: number, max: number): TextSchema<number> {
  const range = `from ${min} to ${max} bytes`;
  return trimmed
    .transform((s, ctx) => {
      const n = parseByteSize(s);
      if (n === null) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a size (bytes, or a number with K, M, G, T or P) ${range}`,
        });
        return z.NEVER;
      }
      return n;
    })
    .pipe(z.number().min(min, `must be ${range}`).max(max, `must be ${range}`));
}

/** A decimal number (`2`, `1.5`) from `min` to `max`. */
export function decimal(min: number, max: number): TextSchema<number> {
  const message = `must be a number from ${min} to ${max}`;
  return trimmed
    .pipe(z.string().regex(/^\d{1,6}(\.\d{1,6})?$/, message))
    .transform(Number)
    .pipe(z.number().min(min, message).max(max, message));
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** true/false, yes/no, on/off, 1/0. */
export function boolean(): TextSchema<boolean> {
  return trimmed.transform((s, ctx) => {
    const v = s.toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    ctx.addIssue({ code: 'custom', message: 'must be true or false (yes/no, on/off, 1/0)' });
    return z.NEVER;
  });
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly [string, ...string[]]>(
  values: T,
): TextSchema<T[number]> {
  return trimmed.pipe(z.enum(values, { error: () => `must be one of ${values.join(', ')}` }));
}

/** A comma-separated list (blanks dropped, duplicates removed), each item checked. */
export function list<T>(
  item: TextSchema<T>,
  o: { min?: number; max?: number } = {},
): TextSchema<T[]> {
  const min = o.min ?? 1;
  const max = o.max ?? 64;
  return z
    .string()
    .transform((s) => [
      ...new Set(
        s
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== ''),
      ),
    ])
    .pipe(
      z
        .array(item)
        .min(min, `must list at least ${min} item${min === 1 ? '' : 's'}`)
        .max(max, `must list at most ${max} items`),
    );
}

/** An absolute path without `..` segments. */
export function absolutePath(): TextSchema<string> {
  return text({ max: 4096 }).refine(
    (p) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'),
    'must be an absolute path without ".."',
  );
}

/** An IANA time zone the platform knows (`UTC`, `Europe/Paris`). */
export function timeZone(): TextSchema<string> {
  return text({ max: 64 }).refine(isValidTimeZone, 'must be a known IANA time zone');
}

/** `HH:MM` on a 24-hour clock. */
export function clockTime(): TextSchema<{ hour: number; minute: number }> {
  return trimmed.transform((s, ctx) => {
    const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(s);
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: 'must be a time HH:MM (00:00 to 23:59)' });
      return z.NEVER;
    }
    return { hour: Number(m[1]), minute: Number(m[2]) };
  });
}

/** A listen address `HOST:PORT` (`[::1]:8798` for IPv6); port 0 asks for any free port. */
export interface ListenAddress {
  host: string;
  port: number;
}

export function listenAddress(): TextSchema<ListenAddress> {
  return trimmed.transform((s, ctx) => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]{1,253})):(\d{1,5})$/.exec(s);
    const port = m === null ? NaN : Number(m[3]);
    if (m === null || port > 65_535) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be HOST:PORT (e.g. 127.0.0.1:8798, [::1]:8798), port 0 to 65535',
      });
      return z.NEVER;
    }
    return { host: m[1] ?? m[2] ?? '', port };
  });
}

/** A URL with one of the given schemes. */
export function url(schemes: readonly string[]): TextSchema<string> {
  const want = schemes.map((s) => `${s}://`).join(', ');
  return trimmed.refine((s) => {
    try {
      const u = new URL(s);
      return schemes.includes(u.protocol.replace(/:$/, '')) && u.host !== '';
    } catch {
      return false;
    }
  }, `must be a URL starting with ${want}`);
}

/** An e-mail address as far as a config check can tell (`name@domain`, no spaces or <>). */
export function mailAddress(): TextSchema<string> {
  return text({
    max: 254,
    pattern: /^[^\s<>@,;"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/,
    describe: 'an e-mail address (user@domain)',
  });
}

/** A pino log level. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
