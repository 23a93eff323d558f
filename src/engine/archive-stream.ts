/**
 * One streaming pass from a source to a stored, checksummed, durable archive file:
 *   tar (or a raw device, or a buffer) → zstd -T<n> → sha256 + byte count → `<file>.partial`
 * then fsync, rename, fsync of the directory. The sha256 is of the bytes as stored, computed
 * as they are written, so no second read is needed.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawnCommand, stderrTail } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import type { ArchiveFile } from './manifest.js';
import { tarCreateArgs, zstdCompressArgs } from './args/archive-args.js';
import { commitPartial, createPartialStream, destError, discardPartial } from './durable-file.js';
import { readProcessReadBytes } from './proc-io.js';

export type ArchiveSource =
  | { kind: 'tree'; mountpoint: string; excludes: readonly string[] }
  | { kind: 'device'; device: string; sizeBytes: number }
  | { kind: 'buffer'; data: Buffer };

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
}

type Child = ReturnType<typeof spawnCommand>;

/** Counts bytes flowing through, optionally hashing them. */
class Meter extends Transform {
  bytes = 0;
  private readonly hash: ReturnType<typeof createHash> | null;
  constructor(
    hashing: boolean,
    private readonly onBytes?: (total: number) => void,
  ) {
    super();
    this.hash = hashing ? createHash('sha256') : null;
  }
  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    cb: (e?: Error | null, d?: Buffer) => void,
  ): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  digest(): string {
    return this.hash?.digest('hex') ?? '';
  }
}

/** Runs the pass and returns what the manifest records about the stored file. */
export async function writeArchive(opts: ArchiveOptions): Promise<ArchiveFile> {
  const local = new AbortController();
  const onOuterAbort = (): void => local.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) onOuterAbort();

  const out = createPartialStream(opts.dir, opts.file);
  const children: { name: string; child: Child }[] = [];
  let poll: NodeJS.Timeout | undefined;
  try {
    const { source } = opts;
    const zstd = spawnCommand(
      'zstd',
      zstdCompressArgs({
        ...opts.compression,
        ...(source.kind === 'device' ? { input: source.device } : {}),
      }),
      { signal: local.signal, cwd: opts.cwd },
    );
    children.push({ name: 'zstd', child: zstd });
    const stored = new Meter(true);
    const streams: Promise<unknown>[] = [pipeline(zstd.stdout, stored, out)];
    let uncompressed: Meter | null = null;
    if (source.kind === 'tree') {
      const tar = spawnCommand('tar', tarCreateArgs(source.mountpoint, source.excludes), {
        signal: local.signal,
        cwd: opts.cwd,
      });
      children.unshift({ name: 'tar', child: tar });
      tar.stdin?.end();
      uncompressed = new Meter(false, opts.onProgress);
      streams.push(pipeline(tar.stdout, uncompressed, zstd.stdin));
    } else if (source.kind === 'buffer') {
      uncompressed = new Meter(false, opts.onProgress);
      const input = uncompressed;
      streams.push(pipeline(input, zstd.stdin));
      input.end(source.data);
    } else {
      zstd.stdin?.end();
      // zstd reads the device itself; its read counter in /proc is the progress.
      const pid = zstd.pid;
      if (opts.onProgress && pid !== undefined) {
        const report = opts.onProgress;
        poll = setInterval(() => {
          void readProcessReadBytes(pid).then((n) => n !== null && report(n));
        }, 500);
      }
    }

    const settled = await Promise.allSettled([...streams, ...children.map((c) => c.child)]);
    const streamError = settled
      .slice(0, streams.length)
      .find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const failedChild = children.find((c) => c.child.exitCode !== 0);
    if (opts.signal?.aborted) {
      throw new AppError('ABORTED', `archiving ${opts.file} was cancelled`, {
        cause: opts.signal.reason,
      });
    }
    const writeCode = (streamError?.reason as NodeJS.ErrnoException | undefined)?.code;
    if (writeCode === 'ENOSPC' || writeCode === 'EDQUOT')
      throw destError(streamError?.reason, opts.file);
    if (failedChild !== undefined) {
      const result = await failedChild.child;
      const stderr = Buffer.from(result.stderr ?? new Uint8Array()).toString('utf8');
      throw new AppError(
        'ARCHIVE_FAILED',
        `${failedChild.name} failed writing ${opts.file} (exit ${failedChild.child.exitCode ?? 'signal ' + String(result.signal)})${stderr.trim() ? ': ' + stderrTail(stderr) : ''}`,
        { details: { program: failedChild.name, exitCode: failedChild.child.exitCode } },
      );
    }
    if (streamError !== undefined) throw destError(streamError.reason, opts.file);

    await commitPartial(opts.dir, opts.file);
    return {
      file: opts.file,
      bytes: stored.bytes,
      sha256: stored.digest(),
      format: source.kind === 'tree' ? 'tar+zstd' : 'raw+zstd',
      uncompressedBytes: source.kind === 'device' ? source.sizeBytes : (uncompressed?.bytes ?? 0),
    };
  } catch (err) {
    local.abort(err);
    await Promise.allSettled(children.map((c) => c.child));
    out.destroy();
    await discardPartial(opts.dir, opts.file);
    throw err;
  } finally {
    if (poll) clearInterval(poll);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}
