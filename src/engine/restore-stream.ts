/**
 * Reading one archive of a backup back: the compressed file is hashed as it is read (one
 * pass, no separate verify read), decompressed by zstd and delivered to tar (a filesystem),
 * to a block device (a raw image) or to memory (the volume's head). A checksum that does
 * not match the manifest is CHECKSUM_MISMATCH, whatever else went wrong.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { AppError } from '../errors.js';
import { outputText, spawnCommand, spawnCommandFrom, stderrTail } from '../exec/run-command.js';
import { parseTarTotals } from './parse/tar-totals.js';
import { ByteTap } from './checksums.js';
import type { ArchiveFile } from './manifest.js';
import {
  tarExtractArgs,
  tarExtractReadBytes,
  zstdDecompressStdinArgs,
} from './args/archive-args.js';
import { stepPoint } from '../lifecycle/step-pause.js';

export type ArchiveSink =
  /**
   * `incremental`: a level of a chain, whose directory listings tar applies (deletions).
   * `ontoExisting`: the directory already holds an earlier level's tree (tarExtractArgs).
   */
  | { kind: 'tar'; directory: string; incremental?: boolean; ontoExisting?: boolean }
  /** A new file (0600) that must not exist yet: a tar snapshot file to build on. */
  | { kind: 'file'; path: string; maxBytes: number }
  /** Written from offset 0; more than maxBytes of data is a failure, not a truncation. */
  | { kind: 'device'; device: string; maxBytes: number }
  | { kind: 'memory'; maxBytes: number };

export interface ReadArchiveOptions {
  /** Absolute path of the archive file. */
  path: string;
  archive: ArchiveFile;
  sink: ArchiveSink;
  signal?: AbortSignal;
  /** Called with the number of compressed bytes read since the last call. */
  onBytes?: (bytes: number) => void;
}

export interface ReadArchiveResult {
  /** Decompressed bytes delivered to the sink (tar: what it counted, in whole records). */
  bytesOut: number;
  /** The decompressed data, for a memory sink. */
  data?: Buffer;
}

/**
 * The stored file is read in 1 MiB chunks, not the stream default of 64 KiB: a sixteenth of
 * the reads, thread-pool hand-offs and writes to zstd, each a context switch or more, and
 * those are dear in this VM. Node's own CPU reading, hashing and feeding zstd the 518 MiB
 * benchmark archive, 6 interleaved pairs, load 9-11 on 2 cores: 1.97-3.21 s (median 2.8)
 * with 64 KiB, 1.64-2.27 s (median 1.9) with 1 MiB.
 */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Buffers of READ_CHUNK_BYTES that feedFile reads into in turn: one being read while the
 * others wait in the pipe to zstd.
 */
const FEED_BUFFERS = 4;

/** Resolves once `dest` has taken `chunk` (handed it to the kernel), rejects on its error. */
function writeChunk(dest: Writable, chunk: Buffer): Promise<void> {
  const written = new Promise<void>((resolve, reject) => {
    dest.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
  // Awaited when its buffer comes round again; until then a failure is not unhandled.
  written.catch(() => undefined);
  return written;
}

/**
 * Copies the file at `path` to `dest` (zstd's stdin), every byte through `tap` (sha256 and
 * count) first, then ends `dest`. Each chunk is read into one of FEED_BUFFERS buffers made
 * once, reused only after `dest` has taken what it held; a read stream allocates a new 1 MiB
 * buffer per read, which the kernel must fault in page by page, and passes each through the
 * stream machinery. Node's CPU (process.cpuUsage, thread pool included) feeding `zstd -d`
 * (output to /dev/null) the 518 MiB benchmark archive, 3 interleaved runs each, load 7-8 on
 * 2 cores: read stream through a hashing Transform 1.54-1.62 s, these buffers 0.78-0.86 s.
 * On a failure `dest` is destroyed, so zstd sees its input end rather than waiting for more.
 */
async function feedFile(path: string, tap: ByteTap, dest: Writable): Promise<void> {
  // A write after zstd died fails in its callback (EPIPE); the same error as an event must
  // not be an uncaught one.
  dest.on('error', () => undefined);
  try {
    const handle = await open(path, 'r');
    try {
      const buffers = Array.from({ length: FEED_BUFFERS }, () =>
        Buffer.allocUnsafeSlow(READ_CHUNK_BYTES),
      );
      const written: Promise<void>[] = [];
      let position = 0;
      for (let i = 0; ; i = (i + 1) % FEED_BUFFERS) {
        await written[i];
        const buffer = buffers[i] as Buffer;
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const chunk = buffer.subarray(0, bytesRead);
        tap.observe(chunk);
        written[i] = writeChunk(dest, chunk);
      }
      await Promise.all(written);
    } finally {
      await handle.close();
    }
    // Not end's callback: on a stream already destroyed without an error (execa does that to
    // the stdin of a child it killed, on an abort) Node never calls it.
    dest.end();
    await finished(dest);
  } catch (err) {
    dest.destroy();
    throw err;
  }
}

/** sha256 of a whole file (used only when a stream failed, to name the real cause). */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Copies decompressed data to a block device (or a new file), in order, then fsyncs it. */
async function writeToDevice(
  source: AsyncIterable<Buffer>,
  device: string,
  maxBytes: number,
  newFile = false,
): Promise<number> {
  const handle = newFile ? await open(device, 'wx', 0o600) : await open(device, 'r+');
  let written = 0;
  try {
    for await (const chunk of source) {
      if (written + chunk.length > maxBytes) {
        throw new AppError(
          'RESTORE_FAILED',
          `the image is larger than ${device} (${maxBytes} bytes)`,
        );
      }
      await handle.write(chunk, 0, chunk.length, written);
      written += chunk.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return written;
}

async function collect(source: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > maxBytes) throw new AppError('RESTORE_FAILED', `more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Streams one archive into its sink, verifying its sha256 and size on the way. Throws
 * CHECKSUM_MISMATCH, ARCHIVE_UNREADABLE (zstd failed on a file whose checksum is right),
 * RESTORE_FAILED (tar or the device write failed) or ABORTED.
 */
export async function readArchive(opts: ReadArchiveOptions): Promise<ReadArchiveResult> {
  const { path, archive, sink, signal } = opts;
  // (a test hook for the tar sink: a no-op unless a crash test armed this point)
  const point = sink.kind === 'tar' ? `extract:${archive.file}` : null;
  const hasher = new ByteTap({
    sha256: true,
    onBytes: (n) => {
      opts.onBytes?.(n);
      if (point !== null) stepPoint(point);
    },
  });
  const zstd = spawnCommand('zstd', zstdDecompressStdinArgs(), signal ? { signal } : {});
  if (zstd.stdin === null || zstd.stdout === null)
    throw new AppError('INTERNAL', 'zstd without pipes');
  // tar reads zstd's stdout itself: the decompressed stream (three times the stored bytes)
  // never passes through Node. Relaying it through Node cost 6-8 s of CPU on the 1.5 GB
  // benchmark tree (the restore's processes: 16.2-18.6 s of CPU before, 10.3-13.3 s after,
  // load 13-23 on 2 cores; `zstd -d | tar -x` alone 8.5 s; test/bench/restore.ts).
  // Spawned in the same tick as zstd, before the event loop could read from that pipe;
  // Node then stops reading it, and closing our end below leaves tar its only reader.
  const tar =
    sink.kind === 'tar'
      ? spawnCommandFrom(
          'tar',
          tarExtractArgs(sink.directory, {
            incremental: sink.incremental === true,
            ontoExisting: sink.ontoExisting === true,
          }),
          zstd.stdout,
          signal ? { signal } : {},
        )
      : null;

  const feed = feedFile(path, hasher, zstd.stdin);
  let deliver: Promise<number | Buffer>;
  if (tar !== null) {
    // Our copy of the pipe's read end must go, or a tar that died early would leave zstd
    // blocked on a full pipe instead of failing on a broken one.
    zstd.stdout.destroy();
    tar.stdout?.resume();
    // What tar read (--totals), compared with the manifest below like any sink's count.
    deliver = tar.then((r) => parseTarTotals(outputText(r.stderr), 'read') ?? -1);
  } else if (sink.kind === 'device') {
    deliver = writeToDevice(zstd.stdout, sink.device, sink.maxBytes);
  } else if (sink.kind === 'file') {
    deliver = writeToDevice(zstd.stdout, sink.path, sink.maxBytes, true);
  } else if (sink.kind === 'memory') {
    deliver = collect(zstd.stdout, sink.maxBytes);
  } else {
    throw new AppError('INTERNAL', 'tar sink without tar');
  }

  const [fed, delivered, zstdDone, tarDone] = await Promise.allSettled([
    feed,
    deliver,
    zstd,
    tar ?? Promise.resolve(null),
  ]);
  if (signal?.aborted) throw new AppError('ABORTED', `restore of ${archive.file} was cancelled`);

  const digest = fed.status === 'fulfilled' ? hasher.digest() : await fileSha256(path);
  if (digest !== archive.sha256) {
    throw new AppError(
      'CHECKSUM_MISMATCH',
      `${archive.file}: sha256 ${digest} does not match the manifest (${archive.sha256})`,
      { details: { file: archive.file, expected: archive.sha256, actual: digest } },
    );
  }
  if (fed.status === 'fulfilled' && hasher.bytes !== archive.bytes) {
    throw new AppError(
      'CHECKSUM_MISMATCH',
      `${archive.file}: ${hasher.bytes} bytes read, the manifest says ${archive.bytes}`,
    );
  }
  const zstdResult = zstdDone.status === 'fulfilled' ? zstdDone.value : null;
  const zstdStderr = stderrTail(outputText(zstdResult?.stderr));
  const zstdFailed = zstdResult === null || zstdResult.exitCode !== 0;
  // zstd also dies when its reader went away first (tar failed, the device write failed):
  // then the reader's error is the one that says what happened.
  const zstdLostReader =
    zstdResult !== null && (zstdResult.signal === 'SIGPIPE' || /broken pipe/i.test(zstdStderr));
  if (zstdFailed && !zstdLostReader) {
    throw new AppError(
      'ARCHIVE_UNREADABLE',
      `zstd could not decompress ${archive.file}: ${zstdStderr}`,
    );
  }
  const tarResult = tarDone.status === 'fulfilled' ? tarDone.value : null;
  if (tar !== null && (tarResult === null || tarResult.exitCode !== 0)) {
    throw new AppError(
      'RESTORE_FAILED',
      `tar could not extract ${archive.file} (exit ${String(tarResult?.exitCode)}): ${stderrTail(outputText(tarResult?.stderr))}`,
    );
  }
  if (delivered.status === 'rejected') {
    const err: unknown = delivered.reason;
    if (err instanceof AppError) throw err;
    throw new AppError('RESTORE_FAILED', `writing ${archive.file} out failed: ${String(err)}`, {
      cause: err,
    });
  }
  if (zstdFailed) {
    throw new AppError(
      'ARCHIVE_UNREADABLE',
      `zstd could not decompress ${archive.file}: ${zstdStderr}`,
    );
  }
  if (fed.status === 'rejected') {
    throw new AppError(
      'ARCHIVE_UNREADABLE',
      `reading ${archive.file} failed: ${String(fed.reason)}`,
      {
        cause: fed.reason,
      },
    );
  }
  const value = delivered.value;
  const bytesOut = typeof value === 'number' ? value : value.length;
  // tar counts whole records of its own size; the other sinks count bytes.
  const expected =
    tar !== null ? tarExtractReadBytes(archive.uncompressedBytes) : archive.uncompressedBytes;
  if (bytesOut !== expected) {
    throw new AppError(
      'RESTORE_FAILED',
      tar !== null
        ? `${archive.file}: tar read ${bytesOut} bytes, the manifest's ${archive.uncompressedBytes} make ${expected} in tar's records`
        : `${archive.file}: ${bytesOut} bytes decompressed, the manifest says ${archive.uncompressedBytes}`,
    );
  }
  return typeof value === 'number' ? { bytesOut } : { bytesOut, data: value };
}
