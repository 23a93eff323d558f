/**
 * Parser for the line GNU tar's `--totals` prints on stderr after creating an archive:
 * `Total bytes written: 10240 (10KiB, 9.8MiB/s)`.
 */

/** Bytes tar wrote, or null when the line is absent. */
export function parseTarTotals(stderr: string): number | null {
  const m = /^Total bytes written: (\d+)/m.exec(stderr);
  return m ? Number(m[1]) : null;
}
