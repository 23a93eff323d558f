/**
 * What host and appliance mode count alike while they archive a volume: the bytes the
 * step expects to read, its progress reports, and the totals of its result.
 */
import type { ArchivedVolume } from './archive-volume.js';
import type { ArchiveFile } from './manifest.js';
import type { Progress } from './progress.js';

/** The bytes an archive step reads: each planned partition's, and the head (1 MiB at most). */
export function expectedBytes(
  planned: readonly { expectedBytes: number }[],
  deviceBytes: number,
): number {
  return planned.reduce((s, p) => s + p.expectedBytes, 0) + Math.min(deviceBytes, 1 << 20);
}

/** Progress reports of one archive step whose passes read `total` bytes in all. */
export interface ProgressCounter {
  /**
   * The byte counter of a pass that starts `base` bytes into the step: it records what the
   * pass has read and reports it a few times a second at most.
   */
  readonly pass: (phase: string, base: number) => (n: number) => void;
  /** Bytes the running pass has read, counted from the step's start (the time bound's figure). */
  readonly readSoFar: () => number;
}

export function progressCounter(
  total: number,
  onProgress: ((p: Progress) => void) | undefined,
): ProgressCounter {
  let readSoFar = 0;
  // Callers draw bars or log lines: a few updates a second are plenty.
  let lastReport = 0;
  return {
    pass: (phase, base) => (n) => {
      readSoFar = base + n;
      const now = Date.now();
      if (now - lastReport < 200) return;
      lastReport = now;
      onProgress?.({ phase, bytesDone: base + n, bytesTotal: total });
    },
    readSoFar: () => readSoFar,
  };
}

/** The result of an archive step, its totals summed from the files it stored. */
export function archivedVolume(
  v: Omit<ArchivedVolume, 'head' | 'totals'> & { head: ArchiveFile },
): ArchivedVolume {
  const archives = v.partitions.flatMap((p) => (p.archive ? [p.archive] : []));
  const snapshots = v.partitions.flatMap((p) => (p.snapshotFile ? [p.snapshotFile] : []));
  return {
    ...v,
    totals: {
      archivedBytes: archives.reduce((s, a) => s + a.uncompressedBytes, 0),
      storedBytes: [...archives, ...snapshots].reduce((s, a) => s + a.bytes, v.head.bytes),
      fileCount: v.partitions.reduce((s, p) => s + (p.fileCount ?? 0), 0),
    },
  };
}
