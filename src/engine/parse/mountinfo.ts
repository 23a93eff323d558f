/**
 * Parser for /proc/self/mountinfo (proc(5)). Paths escape space, tab, newline and
 * backslash as octal (`\040`).
 */

export interface MountEntry {
  mountPoint: string;
  source: string;
  fsType: string;
  options: string;
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    if (mountPoint === undefined) continue;
    out.push({
      mountPoint: unescapeOctal(mountPoint),
      options: left[5] ?? '',
      fsType: right[0] ?? '',
      source: unescapeOctal(right[1] ?? ''),
    });
  }
  return out;
}
