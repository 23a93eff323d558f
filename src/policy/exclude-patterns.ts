/**
 * Exclude patterns: path globs inside a volume's filesystems (`/var/cache/*`, `*.tmp`), from
 * the `backup:exclude` metadata value (comma-separated) or from `backup --exclude`. They end
 * up as tar `--exclude=` arguments run inside the mount, so this is the one rule for both
 * ways in: a pattern must never name a path outside the filesystem being archived, smuggle
 * an option, exclude the whole filesystem, or carry bytes a terminal or log would misread.
 */

import { AppError } from '../errors.js';

export interface ExcludeLimits {
  maxPatterns: number;
  maxPatternLength: number;
}

/**
 * The ceiling for every way in. The metadata's own limits (operator config, smaller by
 * default) are checked by parseExcludes; the engine checks these whatever it is given.
 */
export const EXCLUDE_CEILING: ExcludeLimits = { maxPatterns: 64, maxPatternLength: 256 };

export type ExcludeParse = { ok: true; patterns: string[] } | { ok: false; reason: string };

// C0 controls, DEL and the C1 range, plus the Unicode line/paragraph separators and bidi
// overrides that make a pattern display differently from what it matches.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Validates one pattern; returns the reason it is refused, or null. */
export function excludePatternProblem(
  pattern: string,
  maxLength: number = EXCLUDE_CEILING.maxPatternLength,
): string | null {
  if (pattern === '') return 'an exclude pattern is empty';
  if (pattern.length > maxLength) {
    return `an exclude pattern is longer than ${maxLength} characters`;
  }
  if (UNSAFE_CHARS.test(pattern)) return 'an exclude pattern contains a control character';
  if (pattern.startsWith('-')) return `exclude pattern "${pattern}" starts with "-"`;
  if (pattern.includes('\\')) return `exclude pattern "${pattern}" contains a backslash`;
  if (pattern.split('/').includes('..')) {
    return `exclude pattern "${pattern}" contains a ".." path segment`;
  }
  if (pattern.startsWith('//') || pattern.startsWith('~')) {
    return `exclude pattern "${pattern}" does not name a path inside the filesystem`;
  }
  if (pattern === '/' || pattern === '.' || pattern === './') {
    return `exclude pattern "${pattern}" may not exclude the whole filesystem`;
  }
  return null;
}

/**
 * Parses the metadata's comma-separated list. A leading `/` anchors a pattern at the
 * filesystem root (kept as written; toTarExcludes maps it under the archive's `./`).
 * Duplicates dropped.
 */
export function parseExcludes(value: string, limits: ExcludeLimits): ExcludeParse {
  const maxPatterns = Math.min(limits.maxPatterns, EXCLUDE_CEILING.maxPatterns);
  const maxLength = Math.min(limits.maxPatternLength, EXCLUDE_CEILING.maxPatternLength);
  const maxTotal = maxPatterns * (maxLength + 1);
  if (value.length > maxTotal) {
    return { ok: false, reason: `exclude list is longer than ${maxTotal} characters` };
  }
  // Checked before trimming: trim() would silently drop a newline or tab around a pattern.
  if (UNSAFE_CHARS.test(value)) {
    return { ok: false, reason: 'an exclude pattern contains a control character' };
  }
  if (value.trim() === '') return { ok: true, patterns: [] };
  const patterns: string[] = [];
  for (const raw of value.split(',')) {
    const pattern = raw.trim();
    const problem = excludePatternProblem(pattern, maxLength);
    if (problem !== null) return { ok: false, reason: problem };
    if (!patterns.includes(pattern)) patterns.push(pattern);
  }
  if (patterns.length > maxPatterns) {
    return { ok: false, reason: `more than ${maxPatterns} exclude patterns` };
  }
  return { ok: true, patterns };
}

/**
 * Checks patterns against the ceiling (whatever their source) and returns them as tar sees
 * member names: a leading `/` becomes `./`. Throws INVALID_EXCLUDE with the reason.
 */
export function toTarExcludes(patterns: readonly string[]): string[] {
  if (patterns.length > EXCLUDE_CEILING.maxPatterns) {
    throw new AppError(
      'INVALID_EXCLUDE',
      `at most ${EXCLUDE_CEILING.maxPatterns} exclude patterns are allowed`,
    );
  }
  return patterns.map((p) => {
    const problem = excludePatternProblem(p);
    if (problem !== null) throw new AppError('INVALID_EXCLUDE', `refused: ${problem}`);
    return p.startsWith('/') ? `./${p.slice(1)}` : p;
  });
}
