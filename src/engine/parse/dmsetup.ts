/**
 * Parser for `dmsetup ls`: `name<TAB>(major:minor)` lines, or "No devices found".
 */
export function parseDmsetupLs(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+\(\d+(?::\s*|,\s*)\d+\)\s*$/.exec(line.trim());
    if (m) names.push(m[1] as string);
  }
  return names;
}
