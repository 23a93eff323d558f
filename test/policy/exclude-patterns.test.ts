import { describe, expect, it } from 'vitest';
import { parseExcludes, toTarExcludes } from '../../src/policy/exclude-patterns.js';

const limits = { maxPatterns: 4, maxPatternLength: 40 };

describe('parseExcludes', () => {
  it.each([
    ['', []],
    ['*.tmp', ['*.tmp']],
    ['/var/cache/*, *.log ,tmp/**', ['/var/cache/*', '*.log', 'tmp/**']],
    ['a,a', ['a']],
    ['/home/*/.cache', ['/home/*/.cache']],
    ['répertoire/*', ['répertoire/*']],
    ['foo..bar', ['foo..bar']],
  ])('accepts %j', (value, expected) => {
    expect(parseExcludes(value, limits)).toEqual({ ok: true, patterns: expected });
  });

  it.each([
    ['../etc', /contains a ".." path segment/],
    ['/var/../../etc/shadow', /".." path segment/],
    ['a/..', /".." path segment/],
    ['//host/share', /not name a path inside/],
    ['~root/.ssh', /not name a path inside/],
    ['--files-from=/etc/shadow', /starts with "-"/],
    ['a\\*', /backslash/],
    ['a\nb', /control character/],
    ['*.log\n', /control character/],
    ['a\u0000b', /control character/],
    ['a\u001b[31m', /control character/],
    ['evil\u202etxt', /control character/],
    ['a,,b', /empty/],
    ['/', /may not exclude the whole filesystem/],
    ['.', /may not exclude the whole filesystem/],
    ['./', /may not exclude the whole filesystem/],
    ['x'.repeat(41), /longer than 40/],
    ['a,b,c,d,e', /more than 4 exclude patterns/],
    ['y'.repeat(200), /exclude list is longer than 164/],
  ])('refuses %j', (value, reason) => {
    const r = parseExcludes(value, limits);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

// The same rule for `backup --exclude` (no operator limits: the ceiling of 64 × 256).
describe('toTarExcludes', () => {
  it.each([
    ['*.tmp', '*.tmp'],
    ['/var/cache', './var/cache'],
    ['./home/*/.cache', './home/*/.cache'],
    ['name with space', 'name with space'],
    ['x'.repeat(256), 'x'.repeat(256)],
  ])('accepts %j as %j', (input, output) => {
    expect(toTarExcludes([input])).toEqual([output]);
  });

  it.each([
    ['', /empty/],
    ['../etc', /".."/],
    ['//tmp/*', /not name a path inside/],
    ['a\\*', /backslash/],
    ['a\u2028b', /control character/],
    ['--checkpoint-action=exec=sh', /starts with "-"/],
    ['/', /whole filesystem/],
    ['x'.repeat(257), /longer than 256/],
  ])('refuses %j with INVALID_EXCLUDE', (pattern, why) => {
    expect(() => toTarExcludes([pattern])).toThrow(why);
    try {
      toTarExcludes([pattern]);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('INVALID_EXCLUDE');
    }
  });

  it('bounds the number of patterns', () => {
    expect(toTarExcludes(Array.from({ length: 64 }, (_, i) => `p${i}`))).toHaveLength(64);
    expect(() => toTarExcludes(Array.from({ length: 65 }, (_, i) => `p${i}`))).toThrow(
      /at most 64/,
    );
  });
});
