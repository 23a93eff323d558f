/**
 * Instants as a person in the report's time zone reads them: "2026-12-01 07:00".
 */
import { wallClockOf } from '../policy/time-zone.js';

/** "YYYY-MM-DD HH:MM" (or with seconds) of `at` in `timeZone`. */
export function formatLocalTime(at: Date, timeZone: string, withSeconds = false): string {
  const wall = new Date(wallClockOf(at.getTime(), timeZone)).toISOString();
  return `${wall.slice(0, 10)} ${wall.slice(11, withSeconds ? 19 : 16)}`;
}
