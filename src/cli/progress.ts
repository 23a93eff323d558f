/**
 * A progress bar on stderr for people at a terminal: bytes done, rate, time left, phase.
 * Redrawn at most a few times a second; `finish()` ends the line.
 */
import type { Progress } from '../engine/progress.js';

const WIDTH = 24;

/** Formats bytes with binary units (1.5 GiB). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** Formats seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One line of the bar for `p`, `elapsedMs` after the start (pure, for tests). */
export function renderProgress(p: Progress, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? p.bytesDone / (elapsedMs / 1000) : 0;
  const done = p.bytesTotal ? Math.min(p.bytesDone, p.bytesTotal) : p.bytesDone;
  if (!p.bytesTotal) {
    return `${formatBytes(done)}  ${formatBytes(rate)}/s  ${p.phase}`;
  }
  const frac = Math.min(1, done / p.bytesTotal);
  const filled = Math.round(frac * WIDTH);
  const eta = rate > 0 ? (p.bytesTotal - done) / rate : NaN;
  return `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(p.bytesTotal)}  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}  ${p.phase}`;
}

export interface ProgressBar {
  update: (p: Progress) => void;
  finish: () => void;
}

/** A bar drawing on `stream` (stderr), or a no-op when not interactive. */
export function createProgressBar(
  enabled: boolean,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressBar {
  if (!enabled) return { update: () => undefined, finish: () => undefined };
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update: (p) => {
      const now = Date.now();
      if (now - last < 150) return;
      last = now;
      drawn = true;
      stream.write(`\r\x1b[2K${renderProgress(p, now - started)}`);
    },
    finish: () => {
      if (drawn) stream.write('\n');
    },
  };
}
