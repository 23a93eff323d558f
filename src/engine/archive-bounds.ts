/**
 * How long the archive step of one volume may take and how many bytes a filesystem's tar
 * stream may hold, decided from what the step expects to read: the operator's `[agent]
 * archive_*` settings and the filesystem's figures in, limits and errors out (pure), and
 * the one timer that holds the step to its time limit (withArchiveTimeLimit).
 *
 * Why: the tenant writes the filesystem. One that reports little usage can still yield a
 * huge tar stream (reflinked or deduplicated copies on XFS or btrfs, btrfs compression, a
 * corrupted directory tree that loops) or a tar that never ends; either would hold the
 * volume group's backup slot and the snapshot for as long as it runs. Sparse files are not
 * such a case: the archive is made with `--sparse`, and tar skips holes (SEEK_DATA).
 */
import { AppError, toAppError } from '../errors.js';
import type { Logger } from '../log.js';

export interface ArchiveBounds {
  /** Longest the archive step of one volume may take, in ms; 0: no ceiling. */
  timeoutMs: number;
  /**
   * The slowest average rate, in bytes/s of the bytes the step expects to read (used bytes
   * of each filesystem, size of each raw image), below which the step is stopped once
   * ARCHIVE_RATE_GRACE_MS plus that many seconds have passed; 0: no rate floor.
   */
  minBytesPerSecond: number;
  /**
   * A filesystem's tar stream may hold at most `usedBytes × maxRatio + files ×
   * TAR_BYTES_PER_FILE + slackBytes`; 0: no byte bound.
   */
  maxRatio: number;
  slackBytes: number;
}

/** What an agent or `backup` applies when nobody configured anything (the settings' defaults). */
export const DEFAULT_ARCHIVE_BOUNDS: ArchiveBounds = {
  timeoutMs: 86_400_000,
  minBytesPerSecond: 2 * 1024 ** 2,
  maxRatio: 2,
  slackBytes: 1024 ** 3,
};

/** Time always allowed on top of the rate floor: mkfifo, tar's start, a small volume. */
export const ARCHIVE_RATE_GRACE_MS = 15 * 60_000;

/**
 * Headers a file costs in the tar stream beyond its data. Measured with the archive's own
 * options (`--format=posix --xattrs --acls`, tar 1.34): 1,546 bytes per empty file, short or
 * 200-character names alike (a pax header block with atime and ctime, its data block, the
 * ustar header). 4 KiB leaves room for long paths and extended attributes; an empty file
 * uses no data block, so without this a tree of many small files would count as inflated.
 */
export const TAR_BYTES_PER_FILE = 4096;

/** The archive step's time limit in ms for `expectedBytes` to read, or null for none. */
export function archiveTimeLimitMs(bounds: ArchiveBounds, expectedBytes: number): number | null {
  const limits: number[] = [];
  if (bounds.timeoutMs > 0) limits.push(bounds.timeoutMs);
  if (bounds.minBytesPerSecond > 0) {
    limits.push(
      ARCHIVE_RATE_GRACE_MS + Math.ceil((expectedBytes / bounds.minBytesPerSecond) * 1000),
    );
  }
  return limits.length === 0 ? null : Math.min(...limits);
}

/** The most bytes a filesystem's tar stream may hold, or null for no bound. */
export function treeByteLimit(
  bounds: ArchiveBounds,
  fs: { usedBytes: number; fileCount: number },
): number | null {
  if (bounds.maxRatio <= 0) return null;
  return Math.ceil(
    fs.usedBytes * bounds.maxRatio + fs.fileCount * TAR_BYTES_PER_FILE + bounds.slackBytes,
  );
}

/**
 * A filesystem's byte bound as its tar pass takes it (archive-stream.ts `maxInput`), from
 * the figures its manifest entry recorded (host and appliance mode alike), or undefined
 * for no bound. Past it the pass stops with ARCHIVE_TOO_LARGE, logged as a warning.
 */
export function treeByteBound(
  bounds: ArchiveBounds,
  entry: { usedBytes?: number; fileCount?: number },
  file: string,
  logger: Logger,
): { limitBytes: number; error: (bytesRead: number) => AppError } | undefined {
  const fs = { usedBytes: entry.usedBytes ?? 0, fileCount: entry.fileCount ?? 0 };
  const limitBytes = treeByteLimit(bounds, fs);
  if (limitBytes === null) return undefined;
  return {
    limitBytes,
    error: (bytesRead: number) => {
      const e = tooLargeError({ file, bytesRead, limitBytes, ...fs });
      logger.warn({ ...e.details }, 'tar stream over its byte bound; stopping it');
      return e;
    },
  };
}

/** The failure of a tar stream that outgrew its limit (tar and zstd are stopped by the caller). */
export function tooLargeError(f: {
  file: string;
  bytesRead: number;
  limitBytes: number;
  usedBytes: number;
  fileCount: number;
}): AppError {
  return new AppError(
    'ARCHIVE_TOO_LARGE',
    `${f.file}: the tar stream reached ${f.bytesRead} bytes, over its limit of ${f.limitBytes} for a filesystem using ${f.usedBytes} bytes in ${f.fileCount} files; stopped, nothing kept`,
    { details: { ...f } },
  );
}

/** The failure of an archive step that outlasted its time limit. */
export function timeoutError(f: {
  elapsedMs: number;
  limitMs: number;
  bytesRead: number;
  expectedBytes: number;
}): AppError {
  return new AppError(
    'ARCHIVE_TIMEOUT',
    `the archive step ran ${Math.round(f.elapsedMs)} ms, over its limit of ${f.limitMs} ms, having read ${f.bytesRead} of ${f.expectedBytes} expected bytes; stopped, nothing kept`,
    { details: { ...f } },
  );
}

/**
 * Runs the archive step `step` under its time limit (host and appliance mode alike): past
 * it, the signal `step` gets is aborted (its tar and zstd are stopped) and the step fails
 * with ARCHIVE_TIMEOUT; a cancel of the caller's own `signal` stays a cancel.
 */
export async function withArchiveTimeLimit<T>(
  o: {
    bounds: ArchiveBounds;
    expectedBytes: number;
    signal: AbortSignal | undefined;
    logger: Logger;
    /** Bytes read so far, for the error's figures. */
    bytesRead: () => number;
  },
  step: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const limitMs = archiveTimeLimitMs(o.bounds, o.expectedBytes);
  const clock = new AbortController();
  const armedAt = performance.now();
  const timer =
    limitMs === null
      ? undefined
      : setTimeout(() => {
          const error = timeoutError({
            elapsedMs: performance.now() - armedAt,
            limitMs,
            bytesRead: o.bytesRead(),
            expectedBytes: o.expectedBytes,
          });
          o.logger.warn({ ...error.details }, 'archive step over its time limit; stopping it');
          clock.abort(error);
        }, limitMs);
  const signal = o.signal === undefined ? clock.signal : AbortSignal.any([o.signal, clock.signal]);
  try {
    return await step(signal);
  } catch (err) {
    if (clock.signal.aborted && !(o.signal?.aborted ?? false))
      throw toAppError(clock.signal.reason);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
