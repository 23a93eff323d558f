/**
 * When the daily report is due: `CLB_REPORT_AT` (HH:MM) on the wall clock of
 * `CLB_TIME_ZONE`. The report of a day covers the 24 hours (23 or 25 across a DST change)
 * from the previous day's report time to that day's.
 */
import { instantsOfWallTime, offsetMs, wallClockOf } from '../policy/time-zone.js';

export interface ReportTime {
  hour: number;
  minute: number;
}

/** The daily report that is due at or before an instant: its day and its window. */
export interface DailyPeriod {
  /** Local date of the report, YYYY-MM-DD: the key that makes it once. */
  period: string;
  windowStart: Date;
  windowEnd: Date;
}

const DAY_MS = 86_400_000;

/** Parses "HH:MM" (24-hour clock); null when malformed. */
export function parseReportTime(text: string): ReportTime | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (m === null) return null;
  return { hour: Number(m[1]), minute: Number(m[2]) };
}

/**
 * The instant of `at` on the local day `dayWallMs` (midnight, as wall-clock ms). In a
 * spring-forward gap the time does not exist: the instant the clock jumps to is taken;
 * in a fall-back overlap, the first of the two.
 */
function instantOn(dayWallMs: number, at: ReportTime, timeZone: string): number {
  const wall = dayWallMs + (at.hour * 60 + at.minute) * 60_000;
  const found = instantsOfWallTime(wall, timeZone)[0];
  return found ?? wall - offsetMs(wall - DAY_MS, timeZone);
}

/** The latest daily report due at or before `now`. */
export function latestDailyPeriod(now: Date, at: ReportTime, timeZone: string): DailyPeriod {
  const wallNow = wallClockOf(now.getTime(), timeZone);
  let day = Math.floor(wallNow / DAY_MS) * DAY_MS;
  let end = instantOn(day, at, timeZone);
  if (end > now.getTime()) {
    day -= DAY_MS;
    end = instantOn(day, at, timeZone);
  }
  const start = instantOn(day - DAY_MS, at, timeZone);
  return {
    period: new Date(day).toISOString().slice(0, 10),
    windowStart: new Date(start),
    windowEnd: new Date(end),
  };
}
