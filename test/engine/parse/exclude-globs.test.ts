import { describe, expect, it } from 'vitest';
import { excludeProblem, normalizeExcludes } from '../../../src/engine/parse/exclude-globs.js';

describe('exclude patterns', () => {
  it.each([
    ['*.tmp', '*.tmp'],
    ['/var/cache', './var/cache'],
    ['//tmp/*', './tmp/*'],
    ['./home/*/.cache', './home/*/.cache'],
    ['name with space', 'name with space'],
  ])('accepts %j as %j', (input, output) => {
    expect(normalizeExcludes([input])).toEqual([output]);
  });

  it.each([
    ['', 'empty'],
    ['../etc', '".."'],
    ['/var/../../etc', '".."'],
    ['a\nb', 'control'],
    ['a\u0000b', 'control'],
    ['--checkpoint-action=exec=sh', 'start with "-"'],
    ['/', 'whole filesystem'],
    ['.', 'whole filesystem'],
    ['x'.repeat(257), 'longer than'],
  ])('refuses %j (%s)', (pattern, why) => {
    expect(excludeProblem(pattern)).toContain(why);
    expect(() => normalizeExcludes([pattern])).toThrow(/refused/);
  });

  it('bounds the number of patterns', () => {
    expect(() => normalizeExcludes(Array.from({ length: 65 }, (_, i) => `p${i}`))).toThrow(
      /at most/,
    );
  });
});
