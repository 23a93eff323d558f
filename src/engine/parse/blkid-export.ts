/**
 * Parser for `blkid -p -o export DEV`: KEY=value lines. blkid escapes characters that are
 * special to a shell with a backslash (e.g. `LABEL=my\ disk`); the escape is undone here.
 */

export interface BlkidProbe {
  /** Filesystem or other content type (ext4, xfs, swap, …) or null when nothing was found. */
  type: string | null;
  uuid: string | null;
  label: string | null;
  /** Partition table type when the device holds one (gpt, dos). */
  ptType: string | null;
  /** Every key as printed, unescaped. */
  raw: Record<string, string>;
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

/** Parses blkid's export output (empty output means nothing was recognised). */
export function parseBlkidExport(text: string): BlkidProbe {
  const raw: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    if (!/^[A-Z_0-9]+$/.test(key)) continue;
    raw[key] = unescape(line.slice(eq + 1));
  }
  const get = (k: string): string | null => {
    const v = raw[k];
    return v === undefined || v === '' ? null : v;
  };
  return { type: get('TYPE'), uuid: get('UUID'), label: get('LABEL'), ptType: get('PTTYPE'), raw };
}
