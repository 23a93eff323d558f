/**
 * The `backup:retention` metadata value: `7d` (keep backups younger than 7 days),
 * `last=10` (keep the 10 newest), `daily=7,weekly=4,monthly=6` (grandfather-father-son),
 * or a comma-separated mix of these (`last=3,daily=7`). Selection itself lives in
 * retention.ts (catalog engineer); this module only turns text into its input.
 */
import type { RetentionPolicy } from './retention.js';

/** The retention input: the contract's `RetentionPolicy` (src/policy/retention.ts). */
export type RetentionSpec = RetentionPolicy;

/** The operator's ceilings on what a tenant may ask to keep. */
export interface RetentionLimits {
  maxKeepLast: number;
  maxDaily: number;
  maxWeekly: number;
  maxMonthly: number;
  maxAgeDays: number;
}

export type RetentionParse = { ok: true; retention: RetentionSpec } | { ok: false; reason: string };

const KEYS: Readonly<Record<string, { field: keyof RetentionSpec; limit: keyof RetentionLimits }>> =
  {
    last: { field: 'keepLast', limit: 'maxKeepLast' },
    daily: { field: 'daily', limit: 'maxDaily' },
    weekly: { field: 'weekly', limit: 'maxWeekly' },
    monthly: { field: 'monthly', limit: 'maxMonthly' },
  };

/** Parses a retention value; the reason names the offending part. */
export function parseRetention(value: string, limits: RetentionLimits): RetentionParse {
  const text = value.trim();
  if (text === '') return { ok: false, reason: 'retention is empty' };
  if (text.length > 100) return { ok: false, reason: 'retention is longer than 100 characters' };
  const retention: RetentionSpec = {};
  for (const raw of text.split(',')) {
    const part = raw.trim().toLowerCase();
    const age = /^(\d{1,5})([dw])$/.exec(part);
    if (age !== null) {
      if (retention.maxAgeDays !== undefined) {
        return { ok: false, reason: `retention gives an age twice ("${raw.trim()}")` };
      }
      const days = Number(age[1]) * (age[2] === 'w' ? 7 : 1);
      if (days < 1)
        return { ok: false, reason: `retention age "${raw.trim()}" must be at least 1d` };
      if (days > limits.maxAgeDays) {
        return {
          ok: false,
          reason: `retention age ${days}d exceeds the maximum of ${limits.maxAgeDays}d`,
        };
      }
      retention.maxAgeDays = days;
      continue;
    }
    const pair = /^([a-z]+)\s*=\s*(\d{1,6})$/.exec(part);
    const key = pair === null ? undefined : KEYS[pair[1] as string];
    if (pair === null || key === undefined) {
      return {
        ok: false,
        reason: `retention part "${raw.trim()}" is not Nd, Nw, last=N, daily=N, weekly=N or monthly=N`,
      };
    }
    if (retention[key.field] !== undefined) {
      return { ok: false, reason: `retention gives "${pair[1]}" twice` };
    }
    const n = Number(pair[2]);
    if (n < 1) return { ok: false, reason: `retention "${pair[1]}" must be at least 1` };
    if (n > limits[key.limit]) {
      return {
        ok: false,
        reason: `retention ${pair[1]}=${n} exceeds the maximum of ${limits[key.limit]}`,
      };
    }
    retention[key.field] = n;
  }
  return { ok: true, retention };
}
