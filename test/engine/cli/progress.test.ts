import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, renderProgress } from '../../../src/cli/progress.js';

describe('progress bar text', () => {
  it('shows bar, percent, bytes, rate, ETA and phase', () => {
    const line = renderProgress(
      { phase: 'archive p1', bytesDone: 512 * 1024 ** 2, bytesTotal: 1024 ** 3 },
      4_000,
    );
    expect(line).toBe(
      '[############............]  50%  512.0 MiB / 1.0 GiB  128.0 MiB/s  ETA 0:04  archive p1',
    );
  });

  it('clamps overshoot and copes with an unknown total', () => {
    expect(renderProgress({ phase: 'x', bytesDone: 2000, bytesTotal: 1000 }, 1000)).toContain(
      '100%',
    );
    expect(renderProgress({ phase: 'x', bytesDone: 2048, bytesTotal: null }, 1000)).toBe(
      '2.0 KiB  2.0 KiB/s  x',
    );
  });

  it('formats sizes and durations', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--:--');
  });
});
