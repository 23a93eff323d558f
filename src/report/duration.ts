/**
 * Durations and ages in words for people: "42 s", "3 min 5 s", "1 h 15 min", "2 d 3 h".
 * Each unit is what remains after the larger ones are taken out, so a run of 4,530 s is
 * "1 h 15 min" (the old cron script printed "1 h 75 m": total minutes beside the hours).
 */

/** Formats a number of seconds; negative or non-finite values show as "-". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const total = Math.round(seconds);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  // Two units at most: the seconds of a two-hour run are noise.
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return secs > 0 ? `${minutes} min ${secs} s` : `${minutes} min`;
  return `${secs} s`;
}

/** Seconds between two instants (end before start counts as 0). */
export function secondsBetween(start: Date, end: Date): number {
  return Math.max(0, (end.getTime() - start.getTime()) / 1000);
}
