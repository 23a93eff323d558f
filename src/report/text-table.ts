/**
 * Renders rows as a plain text table for a terminal (`status`): one header line, columns
 * padded to their widest cell, nulls as `-`.
 */
export type Cell = string | number | boolean | Date | null | undefined;

function show(c: Cell): string {
  if (c === null || c === undefined) return '-';
  if (c instanceof Date) return c.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return String(c).replace(/\s+/g, ' ');
}

export function textTable(columns: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [columns.map(String), ...rows.map((r) => r.map(show))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** 1536 → "1.5 KiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
