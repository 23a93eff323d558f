/**
 * A 5-field cron expression (minute hour day-of-month month day-of-week) and the
 * computation of its next firing time, in UTC or in an IANA time zone.
 *
 * Semantics follow Vixie cron, which is what operators know from crontab(5):
 * - `*`, `a`, `a-b`, `a-b/n`, `* /n` (no space), lists `a,b-c`, month and weekday names;
 * - weekday 0 and 7 are both Sunday;
 * - when both day-of-month and day-of-week are restricted (neither starts with `*`), a day
 *   matches if EITHER matches (crontab(5): "the command will be run when either field
 *   matches the current time").
 *
 * This module checks the expression (the subset above, nothing of croner's extensions such
 * as seconds, `L`, `W`, `#` or `?`), and croner computes the firing times in a zone, with
 * Vixie cron's rules at a DST change (croner's README, "DST handling"; option
 * `fixedTimeRule: 'no-wildcard'`, which is Vixie's notion of a fixed-time job):
 * - a fixed-time job (no `*` and no step in minute and hour, e.g. `30 2 * * *`) whose time
 *   does not exist on the spring-forward day runs once, at the end of the gap (03:00 in
 *   Europe/Paris); one whose time occurs twice on the fall-back day runs once, at the first;
 * - an interval job (`0 * * * *`, or a step in minute or hour) follows real time: it skips the minutes
 *   that do not exist and runs in both passes of a repeated hour, so it stays hourly.
 */
import { Cron } from 'croner';

/** A parsed cron expression: the allowed values of each field. */
export interface CronExpression {
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday (7 is folded into 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

/** Why a cron expression was refused. */
export class CronParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronParseError';
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Offset of names[0] (months start at 1, weekdays at 0). */
  nameBase?: number;
}

const MONTH_NAMES = [
  'jan',
  'feb',
  'mar',
  'apr',
  'may',
  'jun',
  'jul',
  'aug',
  'sep',
  'oct',
  'nov',
  'dec',
] as const;
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAY_NAMES, nameBase: 0 },
];

/** Longest accepted expression; anything longer is a typo or an attack, not a schedule. */
const MAX_EXPRESSION_LENGTH = 200;

function parseValue(text: string, spec: FieldSpec): number {
  if (/^\d{1,2}$/.test(text)) {
    const n = Number(text);
    if (n < spec.min || n > spec.max) {
      throw new CronParseError(`${spec.name} value ${n} is out of range ${spec.min}-${spec.max}`);
    }
    return n;
  }
  const lower = text.toLowerCase();
  const index = spec.names?.indexOf(lower) ?? -1;
  if (index >= 0) return index + (spec.nameBase ?? 0);
  throw new CronParseError(`${spec.name} value "${text}" is not a number or a known name`);
}

function parseField(text: string, spec: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    if (part === '') throw new CronParseError(`${spec.name} has an empty list element`);
    const [rangeText, stepText, extra] = part.split('/');
    if (extra !== undefined || rangeText === undefined || rangeText === '') {
      throw new CronParseError(`${spec.name} element "${part}" is malformed`);
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,2}$/.test(stepText) || Number(stepText) === 0) {
        throw new CronParseError(`${spec.name} step "${stepText}" must be a number from 1 to 99`);
      }
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (rangeText === '*') {
      from = spec.min;
      to = spec.max;
    } else {
      const bounds = rangeText.split('-');
      if (bounds.length > 2 || bounds.some((b) => b === '')) {
        throw new CronParseError(`${spec.name} range "${rangeText}" is malformed`);
      }
      from = parseValue(bounds[0] as string, spec);
      // `a/n` means from a to the end of the field, as in Vixie cron.
      to =
        bounds[1] !== undefined
          ? parseValue(bounds[1], spec)
          : stepText !== undefined
            ? spec.max
            : from;
      if (to < from) {
        throw new CronParseError(`${spec.name} range "${rangeText}" runs backwards`);
      }
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

/** Parses a 5-field cron expression; throws CronParseError with the reason. */
export function parseCron(source: string): CronExpression {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new CronParseError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const fields = source.trim().split(/[ \t]+/);
  if (fields.length !== 5) {
    throw new CronParseError(
      `expected 5 fields (minute hour day month weekday), got ${fields.length}`,
    );
  }
  const sets = fields.map((f, i) => parseField(f, FIELDS[i] as FieldSpec));
  const dow = sets[4] as Set<number>;
  if (dow.has(7)) {
    dow.delete(7);
    dow.add(0);
  }
  const expr: CronExpression = {
    source: fields.join(' '),
    minutes: sets[0] as Set<number>,
    hours: sets[1] as Set<number>,
    daysOfMonth: sets[2] as Set<number>,
    months: sets[3] as Set<number>,
    daysOfWeek: dow,
    domRestricted: !(fields[2] as string).startsWith('*'),
    dowRestricted: !(fields[4] as string).startsWith('*'),
  };
  if (!canEverFire(expr)) {
    throw new CronParseError('the day of month never occurs in the chosen months');
  }
  try {
    schedulerOf(expr, 'UTC');
  } catch (err) {
    // The subset above is croner's too; a refusal here is a gap between the two, reported.
    throw new CronParseError(`not accepted by the scheduler: ${(err as Error).message}`);
  }
  return expr;
}

const DAYS_IN_MONTH_MAX = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** False for expressions such as `0 0 31 2 *` that name a day no chosen month has. */
function canEverFire(expr: CronExpression): boolean {
  if (expr.dowRestricted && expr.domRestricted) return true; // weekday alone can match
  if (!expr.domRestricted) return true;
  for (const m of expr.months) {
    for (const d of expr.daysOfMonth) if (d <= (DAYS_IN_MONTH_MAX[m - 1] ?? 0)) return true;
  }
  return false;
}

/** Croner's schedulers, kept per zone and expression: a scheduler pass asks for many volumes. */
const schedulers = new Map<string, Cron>();

function schedulerOf(expr: CronExpression, timeZone: string): Cron {
  const key = `${timeZone} ${expr.source}`;
  let cron = schedulers.get(key);
  if (cron === undefined) {
    cron = new Cron(expr.source, {
      timezone: timeZone,
      // Never started: only asked for times.
      paused: true,
      mode: '5-part',
      // Vixie cron: both day fields restricted → either matches; otherwise both must.
      domAndDow: !(expr.domRestricted && expr.dowRestricted),
      fixedTimeRule: 'no-wildcard',
      // `a/n` (from a to the end of the field), which Vixie cron and parseCron accept.
      sloppyRanges: true,
    });
    if (schedulers.size >= 1000) schedulers.clear();
    schedulers.set(key, cron);
  }
  return cron;
}

/**
 * The first firing time strictly after `after`, on the wall clock of `timeZone` (default
 * UTC), with the DST rules above. Null if it never fires again.
 */
export function nextCronFire(expr: CronExpression, after: Date, timeZone = 'UTC'): Date | null {
  return schedulerOf(expr, timeZone).nextRun(after);
}

/** The next `count` firing times after `after` (for `policy check --next N`). */
export function nextCronFires(
  expr: CronExpression,
  after: Date,
  count: number,
  timeZone = 'UTC',
): Date[] {
  return schedulerOf(expr, timeZone).nextRuns(count, after);
}

/**
 * The shortest gap between consecutive firings seen over a sample of the schedule (in UTC),
 * used to hold cron schedules to the operator's minimum interval.
 */
export function shortestCronGapSeconds(expr: CronExpression, samples = 400): number {
  const key = `${samples} ${expr.source}`;
  const known = gapCache.get(key);
  if (known !== undefined) return known;
  const gap = computeShortestGap(expr, samples);
  // Every scheduler pass asks again for each volume; tenants use few distinct expressions.
  if (gapCache.size >= 1000) gapCache.clear();
  gapCache.set(key, gap);
  return gap;
}

const gapCache = new Map<string, number>();

function computeShortestGap(expr: CronExpression, samples: number): number {
  let shortest = Number.POSITIVE_INFINITY;
  // Two reference points: a leap year's start and a mid-year date, so month-bound patterns show.
  for (const start of [Date.UTC(2024, 0, 1), Date.UTC(2025, 5, 15)]) {
    let prev = nextCronFire(expr, new Date(start - 1));
    for (let i = 0; i < samples && prev !== null; i += 1) {
      const next = nextCronFire(expr, prev);
      if (next === null) break;
      shortest = Math.min(shortest, (next.getTime() - prev.getTime()) / 1000);
      prev = next;
    }
  }
  return shortest;
}
