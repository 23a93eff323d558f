/**
 * One streaming pass from a source to a stored, checksummed, durable archive file:
 *   tar (or a raw device, or a buffer) → zstd -T<n> → sha256 + byte count → `<file>.partial`
 * then fsync, rename, fsync of the directory. The sha256 is of the bytes as stored, computed
 * as they are written, so no second read is needed.
 */
import { constants, createReadStream, type WriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runCommand, spawnCommand, stderrTail } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import { CommandError } from '../exec/command-error.js';
import { ByteTap } from './checksums.js';
import type { ArchiveFile } from './manifest.js';
import { tarCreateArgs, zstdCompressArgs } from './args/archive-args.js';
import { commitPartial, createPartialStream, destError, discardPartial } from './durable-file.js';
import { parseTarTotals } from './parse/tar-totals.js';
import { readProcessReadBytes } from './proc-io.js';
import { stepPoint } from '../lifecycle/step-pause.js';

export type ArchiveSource =
  | {
      kind: 'tree';
      mountpoint: string;
      excludes: readonly string[];
      /** Runs tar where the tree is mounted (the job's private mount namespace). */
      wrap?: (program: string, args: readonly string[]) => { program: string; args: string[] };
      /** tar's listed-incremental snapshot file, read and updated (see tarCreateArgs). */
      snapshotFile?: string;
    }
  | { kind: 'device'; device: string; sizeBytes: number }
  /** A regular file of ours (a tar snapshot file), stored as `snar+zstd`. */
  | { kind: 'file'; path: string; sizeBytes: number }
  | { kind: 'buffer'; data: Buffer }
  /** A stream from a program we do not run here (a dump over SSH); `sql+zstd` when stored. */
  | { kind: 'stream'; stream: Readable }
  /**
   * A tar stream another process writes into a FIFO we make (`write` is given its path and
   * resolves when the writer is done): the appliance's tar-out. Stored as `tar+zstd`.
   */
  | { kind: 'producer'; write: (fifo: string) => Promise<void> }
  /** Bytes `offset` .. `offset + sizeBytes` of a device, read here; stored as `raw+zstd`. */
  | { kind: 'range'; device: string; offset: number; sizeBytes: number };

export interface ArchiveOptions {
  dir: string;
  file: string;
  source: ArchiveSource;
  compression: { level: number; threads: number };
  /** Working directory of tar and zstd: the run directory, so the reaper can find them. */
  cwd: string;
  signal?: AbortSignal;
  /** Called with the uncompressed bytes read so far. */
  onProgress?: (bytesRead: number) => void;
  /**
   * A tree's tar stream may not grow past `limitBytes` (see archive-bounds.ts): zstd's read
   * counter is watched (a producer's stream: its byte count), and past it tar and zstd are
   * stopped and `error(bytesRead)` thrown.
   */
  maxInput?: { limitBytes: number; error: (bytesRead: number) => AppError };
  /**
   * Runs after the data is written and before the file is committed; throwing discards the
   * partial file (a stream whose producer failed or whose content is incomplete).
   */
  beforeCommit?: () => Promise<void>;
}

/** Writes one file of a backup: its name, source, and optionally progress and byte bound. */
export type ArchiveWriter = (
  file: string,
  source: ArchiveSource,
  onProgress?: (bytesRead: number) => void,
  maxInput?: ArchiveOptions['maxInput'],
) => Promise<ArchiveFile>;

/**
 * The writer of one backup's files (host and appliance mode alike): the work directory, the
 * compression and the run directory fixed; the signal read at each write, since the archive
 * step's own (with its time bound) replaces the caller's once that step starts.
 */
export function archiveWriter(o: {
  dir: string;
  compression: ArchiveOptions['compression'];
  cwd: string;
  signal: () => AbortSignal | undefined;
}): ArchiveWriter {
  return (file, source, onProgress, maxInput) => {
    const signal = o.signal();
    return writeArchive({
      dir: o.dir,
      file,
      source,
      compression: o.compression,
      cwd: o.cwd,
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
      ...(maxInput ? { maxInput } : {}),
    });
  };
}

type Child = ReturnType<typeof spawnCommand>;

/** How often zstd's read counter is looked at (progress, byte bound). */
const POLL_MS = 250;

function bufferText(b: unknown): string {
  return b instanceof Uint8Array ? Buffer.from(b).toString('utf8') : typeof b === 'string' ? b : '';
}

/**
 * The error of the first program that failed on its own. A tar that got EPIPE because zstd
 * died is not the cause, so a failed zstd is reported before a tar that saw a broken pipe.
 */
async function firstFailure(
  children: { name: string; child: Child }[],
): Promise<CommandError | null> {
  const failures: {
    name: string;
    command: string;
    exitCode: number | null;
    signal: string | null;
    stderr: string;
  }[] = [];
  for (const c of children) {
    const r = await c.child;
    if (r.exitCode === 0) continue;
    failures.push({
      name: c.name,
      command: r.command,
      exitCode: r.exitCode ?? null,
      signal: r.signal ?? null,
      stderr: stderrTail(bufferText(r.stderr)),
    });
  }
  const cause =
    failures.find((f) => !/broken pipe/i.test(f.stderr) && f.exitCode !== null) ?? failures[0];
  if (cause === undefined) return null;
  const how = cause.exitCode !== null ? `exit ${cause.exitCode}` : `signal ${String(cause.signal)}`;
  return new CommandError(
    'ARCHIVE_FAILED',
    `${cause.name} failed (${how})${cause.stderr ? ': ' + cause.stderr : ''}`,
    {
      program: cause.name,
      command: cause.command,
      exitCode: cause.exitCode,
      signal: cause.signal,
      stderr: cause.stderr,
    },
  );
}

/** Counts the uncompressed bytes, telling `onTotal` the running total. */
function meterOf(onTotal?: (total: number) => void): ByteTap {
  return onTotal === undefined ? new ByteTap() : new ByteTap({ onBytes: (_n, t) => onTotal(t) });
}

const FORMATS: Record<ArchiveSource['kind'], ArchiveFile['format']> = {
  tree: 'tar+zstd',
  device: 'raw+zstd',
  buffer: 'raw+zstd',
  stream: 'sql+zstd',
  file: 'snar+zstd',
  producer: 'tar+zstd',
  range: 'raw+zstd',
};

/**
 * Ends a reader still waiting in open() on `fifo` (its writer failed before opening it):
 * opening the other end and closing it gives the reader an immediate end of file.
 */
async function releaseFifo(fifo: string): Promise<void> {
  try {
    const fh = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    await fh.close();
  } catch {
    // no reader waiting (ENXIO) or the FIFO is gone: nothing to release
  }
}

/** Runs the pass and returns what the manifest records about the stored file. */
export async function writeArchive(opts: ArchiveOptions): Promise<ArchiveFile> {
  const local = new AbortController();
  const onOuterAbort = (): void => local.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) onOuterAbort();

  const { source } = opts;
  // tar writes into a FIFO that zstd reads: the uncompressed stream never enters Node.
  const fifo =
    source.kind === 'tree' || source.kind === 'producer'
      ? join(opts.cwd, `${opts.file}.fifo`)
      : null;
  const children: { name: string; child: Child }[] = [];
  let poll: NodeJS.Timeout | undefined;
  // Set from the poll's callback: an object, so the compiler does not narrow it to null.
  const over: { error: AppError | null } = { error: null };
  let out: WriteStream | null = null;
  try {
    if (fifo !== null) await runCommand('mkfifo', ['-m', '600', '--', fifo]);
    // Made only now, and piped within the same tick: its open can fail (the destination
    // unmounted under the run), and an 'error' with no listener yet kills the process.
    out = createPartialStream(opts.dir, opts.file);
    const zstdInput =
      source.kind === 'device'
        ? source.device
        : source.kind === 'file'
          ? source.path
          : source.kind === 'tree'
            ? fifo
            : null;
    const zstd = spawnCommand(
      'zstd',
      zstdCompressArgs({ ...opts.compression, ...(zstdInput ? { input: zstdInput } : {}) }),
      { signal: local.signal, cwd: opts.cwd },
    );
    children.push({ name: 'zstd', child: zstd });
    const point = `archive:${opts.file}`;
    const stored = new ByteTap({
      sha256: true,
      // (a test hook: a no-op unless a crash test armed this point)
      ...(source.kind === 'tree' ? { onBytes: () => stepPoint(point) } : {}),
    });
    // Any failure stops the whole pass: a tar that died leaves zstd waiting on the FIFO.
    const stopOnError = (p: Promise<unknown>): Promise<unknown> =>
      p.catch((err: unknown) => {
        local.abort(err);
        throw err;
      });
    const streams: Promise<unknown>[] = [stopOnError(pipeline(zstd.stdout, stored, out))];
    let uncompressed: ByteTap | null = null;
    if (source.kind === 'tree' && fifo !== null) {
      const tarArgs = tarCreateArgs(source.mountpoint, source.excludes, fifo, source.snapshotFile);
      const cmd = source.wrap ? source.wrap('tar', tarArgs) : { program: 'tar', args: tarArgs };
      const tar = spawnCommand(cmd.program, cmd.args, { signal: local.signal, cwd: opts.cwd });
      children.unshift({ name: 'tar', child: tar });
      tar.stdin?.end();
      tar.stdout?.resume();
      zstd.stdin?.end();
    } else if (source.kind === 'buffer') {
      uncompressed = meterOf(opts.onProgress);
      const input = uncompressed;
      streams.push(stopOnError(pipeline(input, zstd.stdin)));
      input.end(source.data);
    } else if (source.kind === 'stream') {
      uncompressed = meterOf(opts.onProgress);
      streams.push(stopOnError(pipeline(source.stream, uncompressed, zstd.stdin)));
    } else if (source.kind === 'producer' && fifo !== null) {
      // The bytes pass through Node here (counted as they go, which is also the byte bound);
      // the writer is in a VM anyway.
      const bound = opts.maxInput;
      const report = opts.onProgress;
      uncompressed = new ByteTap({
        onBytes: (_n, total) => {
          report?.(total);
          if (bound !== undefined && total > bound.limitBytes && over.error === null) {
            over.error = bound.error(total);
            local.abort(over.error);
          }
        },
      });
      const reader = createReadStream(fifo);
      streams.push(stopOnError(pipeline(reader, uncompressed, zstd.stdin)));
      streams.push(
        stopOnError(
          source.write(fifo).catch(async (err: unknown) => {
            await releaseFifo(fifo);
            throw err;
          }),
        ),
      );
    } else if (source.kind === 'range') {
      uncompressed = meterOf(opts.onProgress);
      const reader = createReadStream(source.device, {
        start: source.offset,
        end: source.offset + source.sizeBytes - 1,
      });
      streams.push(stopOnError(pipeline(reader, uncompressed, zstd.stdin)));
    } else {
      zstd.stdin?.end();
    }
    // zstd reads the FIFO or the device itself: its read counter in /proc is the progress,
    // and for a tree the size of the tar stream so far (the byte bound).
    const pid = zstd.pid;
    const maxInput = source.kind === 'tree' ? opts.maxInput : undefined;
    if (
      (source.kind === 'tree' || source.kind === 'device') &&
      (opts.onProgress !== undefined || maxInput !== undefined) &&
      pid !== undefined
    ) {
      const report = opts.onProgress;
      poll = setInterval(() => {
        void readProcessReadBytes(pid).then((n) => {
          if (n === null) return;
          report?.(n);
          if (maxInput !== undefined && n > maxInput.limitBytes && over.error === null) {
            over.error = maxInput.error(n);
            local.abort(over.error);
          }
        });
      }, POLL_MS);
    }
    const waits = children.map((c) =>
      c.child.then((r) => {
        if (r.exitCode !== 0) local.abort(new Error(`${c.name} failed`));
        return r;
      }),
    );

    const settled = await Promise.allSettled([...streams, ...waits]);
    const streamError = settled
      .slice(0, streams.length)
      .find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (over.error !== null) throw over.error;
    if (opts.signal?.aborted) {
      throw new AppError('ABORTED', `archiving ${opts.file} was cancelled`, {
        cause: opts.signal.reason,
      });
    }
    // A destination that filled up or went away is the cause; zstd, killed for it, is not.
    const written = settled[0];
    if (written?.status === 'rejected') {
      const e = destError(written.reason, opts.file);
      if (e.code === 'DEST_FULL' || e.code === 'DEST_GONE' || e.code === 'DEST_NOT_WRITABLE') {
        throw e;
      }
    }
    // The producer's own error (the appliance's tar-out failed) is the cause, not zstd's end.
    if (source.kind === 'producer' && streamError?.reason instanceof AppError) {
      throw streamError.reason;
    }
    const failed = await firstFailure(children);
    if (failed !== null) throw failed;
    if (streamError !== undefined) throw destError(streamError.reason, opts.file);
    if (source.kind === 'tree') {
      const tarResult = await (children[0] as { child: Child }).child;
      const total = parseTarTotals(bufferText(tarResult.stderr));
      if (total === null) throw new AppError('ARCHIVE_FAILED', 'tar did not report its total');
      uncompressed = new ByteTap();
      uncompressed.bytes = total;
      // A stream that ended between two looks at zstd's counter is checked on tar's total.
      if (opts.maxInput !== undefined && total > opts.maxInput.limitBytes) {
        throw opts.maxInput.error(total);
      }
    }

    await opts.beforeCommit?.();
    await commitPartial(opts.dir, opts.file);
    return {
      file: opts.file,
      bytes: stored.bytes,
      sha256: stored.digest(),
      format: FORMATS[source.kind],
      uncompressedBytes:
        source.kind === 'device' || source.kind === 'file' || source.kind === 'range'
          ? source.sizeBytes
          : (uncompressed?.bytes ?? 0),
    };
  } catch (err) {
    local.abort(err);
    await Promise.allSettled(children.map((c) => c.child));
    out?.destroy();
    await discardPartial(opts.dir, opts.file);
    throw err;
  } finally {
    if (poll) clearInterval(poll);
    if (fifo !== null) await unlink(fifo).catch(() => undefined);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}
