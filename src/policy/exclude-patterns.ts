/**
 * The `backup:exclude` metadata value: comma-separated path globs inside the volume's
 * filesystems (`/var/cache/*,*.tmp`). They end up as tar `--exclude=` arguments, so every
 * pattern is checked here: a tenant's metadata must never name a path outside the
 * filesystem being archived, smuggle an option, or carry bytes a terminal or log would
 * misread.
 */

import { excludeProblem as engineExcludeProblem } from '../engine/parse/exclude-globs.js';

export interface ExcludeLimits {
  maxPatterns: number;
  maxPatternLength: number;
}

export type ExcludeParse = { ok: true; patterns: string[] } | { ok: false; reason: string };

// C0 controls, DEL and the C1 range, plus the Unicode line/paragraph separators and bidi
// overrides that make a pattern display differently from what it matches.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Validates one pattern; returns the reason it is refused, or null. */
export function excludePatternProblem(pattern: string, maxLength: number): string | null {
  if (pattern === '') return 'an exclude pattern is empty';
  if (pattern.length > maxLength) {
    return `an exclude pattern is longer than ${maxLength} characters`;
  }
  if (UNSAFE_CHARS.test(pattern)) return 'an exclude pattern contains a control character';
  if (pattern.startsWith('-')) return `exclude pattern "${pattern}" starts with "-"`;
  if (pattern.includes('\\')) return `exclude pattern "${pattern}" contains a backslash`;
  const segments = pattern.split('/');
  if (segments.some((s) => s === '..')) {
    return `exclude pattern "${pattern}" contains a ".." path segment`;
  }
  if (pattern.startsWith('//') || pattern.startsWith('~')) {
    return `exclude pattern "${pattern}" does not name a path inside the filesystem`;
  }
  // Whatever the engine would refuse at backup time is refused here, when the tag is set.
  const engine = engineExcludeProblem(pattern);
  if (engine !== null) return `exclude pattern "${pattern}": ${engine}`;
  return null;
}

/**
 * Parses the comma-separated list. A leading `/` anchors a pattern at the filesystem root
 * (it is kept as written; the engine maps it under the archive's `./`). Duplicates dropped.
 */
export function parseExcludes(value: string, limits: ExcludeLimits): ExcludeParse {
  const maxTotal = limits.maxPatterns * (limits.maxPatternLength + 1);
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
    const problem = excludePatternProblem(pattern, limits.maxPatternLength);
    if (problem !== null) return { ok: false, reason: problem };
    if (!patterns.includes(pattern)) patterns.push(pattern);
  }
  if (patterns.length > limits.maxPatterns) {
    return { ok: false, reason: `more than ${limits.maxPatterns} exclude patterns` };
  }
  return { ok: true, patterns };
}
