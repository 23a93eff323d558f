/**
 * Exclude patterns from users (CLI, volume metadata). They become `--exclude=` arguments of
 * tar run inside the mount, so they must stay inside it: no '..' components, no control
 * characters, bounded length. A leading '/' means "from the filesystem root" and is
 * rewritten to tar's `./` form, which is what archive member names look like.
 */
import { AppError } from '../../errors.js';

export const MAX_EXCLUDE_LENGTH = 256;
export const MAX_EXCLUDES = 64;

/** Why a pattern is refused, or null when it is acceptable. */
export function excludeProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'the pattern is empty';
  if (pattern.length > MAX_EXCLUDE_LENGTH) return `longer than ${MAX_EXCLUDE_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(pattern)) return 'control characters are not allowed';
  if (pattern.startsWith('-')) return 'a pattern may not start with "-"';
  if (pattern.split('/').includes('..')) return '".." components are not allowed';
  if (/^\/+$/.test(pattern) || pattern === '.' || pattern === './') {
    return 'a pattern may not exclude the whole filesystem';
  }
  return null;
}

/** Validates patterns and returns them as tar will see them. */
export function normalizeExcludes(patterns: readonly string[]): string[] {
  if (patterns.length > MAX_EXCLUDES) {
    throw new AppError('INVALID_EXCLUDE', `at most ${MAX_EXCLUDES} exclude patterns are allowed`);
  }
  return patterns.map((p) => {
    const problem = excludeProblem(p);
    if (problem !== null) {
      throw new AppError('INVALID_EXCLUDE', `exclude ${JSON.stringify(p)} refused: ${problem}`);
    }
    return p.startsWith('/') ? `./${p.replace(/^\/+/, '')}` : p;
  });
}
