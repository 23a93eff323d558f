/**
 * Wall clock ↔ instant conversion for IANA time zones, with the platform's Intl data only
 * (no I/O, no library): what the cron computation needs to honour DST.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when the platform knows the zone name (e.g. `Europe/Paris`, `UTC`). */
export function isValidTimeZone(timeZone: string): boolean {
  // The default of every zone setting, checked by every command at start: a formatter's
  // first construction loads the platform's zone data, which 'UTC' does not need.
  if (timeZone === 'UTC') return true;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * The wall-clock time of `instantMs` in `timeZone`, as milliseconds whose UTC fields are the
 * wall fields (seconds kept, sub-second dropped).
 */
export function wallClockOf(instantMs: number, timeZone: string): number {
  const parts = formatterFor(timeZone).formatToParts(new Date(instantMs));
  const get = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value ?? NaN);
  return Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
}

/** The zone's offset from UTC at an instant, in milliseconds (east positive). */
export function offsetMs(instantMs: number, timeZone: string): number {
  const whole = Math.floor(instantMs / 1000) * 1000;
  return wallClockOf(whole, timeZone) - whole;
}

/**
 * Every instant whose wall-clock time in `timeZone` is `wallMs`, ascending: none in a
 * spring-forward gap, two in a fall-back overlap, one otherwise.
 */
export function instantsOfWallTime(wallMs: number, timeZone: string): number[] {
  const day = 24 * 3600_000;
  // The offsets in force a day either side cover both sides of any one transition.
  const candidates = new Set([
    wallMs - offsetMs(wallMs - day, timeZone),
    wallMs - offsetMs(wallMs + day, timeZone),
    wallMs - offsetMs(wallMs, timeZone),
  ]);
  return [...candidates].filter((i) => wallClockOf(i, timeZone) === wallMs).sort((a, b) => a - b);
}
