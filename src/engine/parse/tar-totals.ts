/**
 * Parser for the line GNU tar's `--totals` prints on stderr at the end: after creating an
 * archive `Total bytes written: 10240 (10KiB, 9.8MiB/s)`, after extracting one
 * `Total bytes read: 10240 (10KiB, 9.8MiB/s)`.
 */

/** Bytes tar wrote (or, with `'read'`, read), or null when the line is absent. */
export function parseTarTotals(
  stderr: string,
  direction: 'written' | 'read' = 'written',
): number | null {
  const m = new RegExp(`^Total bytes ${direction}: (\\d+)`, 'm').exec(stderr);
  return m ? Number(m[1]) : null;
}
