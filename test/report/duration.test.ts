import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/report/duration.js';

describe('formatDuration', () => {
  it('takes the hours out of the minutes: 4,530 s is 1 h 15 min, not 1 h 75 min', () => {
    expect(formatDuration(4530)).toBe('1 h 15 min');
    expect(formatDuration(4500)).not.toContain('75');
  });

  it('shows seconds under an hour and whole units without zeros', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(180)).toBe('3 min');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(3599.6)).toBe('1 h');
    expect(formatDuration(0.2)).toBe('0 s');
  });

  it('counts days for ages', () => {
    expect(formatDuration(2 * 86_400 + 3 * 3600 + 59)).toBe('2 d 3 h');
    expect(formatDuration(86_400)).toBe('1 d');
  });

  it('shows a dash for what is not a duration', () => {
    expect(formatDuration(-1)).toBe('-');
    expect(formatDuration(Number.NaN)).toBe('-');
  });
});
