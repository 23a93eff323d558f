/**
 * mysqldump inside the instance, streamed back over SSH into the engine's one pass
 * (zstd → sha256 → `.partial` → rename) as `mysqldump.sql.zst` in the backup directory.
 * A dump counts only when ssh and mysqldump exited 0 and the stream ends with mysqldump's
 * `-- Dump completed` trailer; anything else is DUMP_FAILED (or an SSH_* error) with why.
 */
import { pipeline } from 'node:stream/promises';
import { stderrTail } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeArchive } from '../engine/archive-stream.js';
import type { ArchiveFile } from '../engine/manifest.js';
import type { BinlogPosition } from '../engine/manifest.js';
import { DumpTap, dumpCompleted, parseBinlogPosition } from './dump-output.js';
import { mysqldumpRemoteCommand, type MysqldumpCommand } from './remote-command.js';
import { sshConnectionError } from './ssh-errors.js';
import { deadline, sessionStderr, spawnSsh, type SshEndpoint } from './ssh-session.js';

export const DUMP_FILE = 'mysqldump.sql.zst';

export interface DumpRequest {
  endpoint: SshEndpoint;
  command: MysqldumpCommand;
  /** The backup's work directory (where the file is stored). */
  dir: string;
  /** The run directory (working directory of zstd, for the reaper). */
  cwd: string;
  compression: { level: number; threads: number };
  timeoutMs: number;
  signal?: AbortSignal;
  logger: Logger;
  onProgress?: (bytes: number) => void;
}

export interface DumpResult {
  archive: ArchiveFile;
  durationMs: number;
  binlog: BinlogPosition | null;
}

function bufferText(b: unknown): string {
  return sessionStderr(
    b instanceof Uint8Array ? Buffer.from(b).toString('utf8') : typeof b === 'string' ? b : '',
  );
}

/** The reason a dump that exited non-zero failed, from its exit code and stderr. */
export function dumpExitError(program: string, exitCode: number, stderr: string): AppError {
  const tail = stderrTail(stderr);
  const why =
    exitCode > 128 && exitCode < 160
      ? `${program} was killed by signal ${exitCode - 128} in the instance; the dump is incomplete`
      : exitCode === 127
        ? `${program} is not installed in the instance (not found on its PATH)`
        : /Could not open required defaults file|Failed to open required defaults file/i.test(
              stderr,
            )
          ? `the option file with the credentials is missing in the instance`
          : `${program} exited with ${exitCode}`;
  return new AppError('DUMP_FAILED', `mysqldump failed: ${why}${tail ? `: ${tail}` : ''}`, {
    details: { exitCode },
  });
}

/** Runs the dump and stores it; throws DUMP_FAILED or SSH_* with the reason. */
export async function dumpDatabases(req: DumpRequest): Promise<DumpResult> {
  const started = Date.now();
  const limit = deadline(req.timeoutMs, req.signal);
  const stop = new AbortController();
  const signal = AbortSignal.any([limit.signal, stop.signal]);
  const session = spawnSsh(req.endpoint, mysqldumpRemoteCommand(req.command), signal);
  const { child } = session;
  // stdin stays open until ssh exits: its end tells the instance to stop the dump.
  child.stdin?.on('error', () => undefined);
  const tap = new DumpTap();
  const feeding = pipeline(child.stdout, tap).catch((err: unknown) => err);
  try {
    const archive = await writeArchive({
      dir: req.dir,
      file: DUMP_FILE,
      source: { kind: 'stream', stream: tap },
      compression: req.compression,
      cwd: req.cwd,
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      beforeCommit: async () => {
        const r = await child;
        await feeding;
        if (req.signal?.aborted) {
          throw new AppError('ABORTED', 'the dump was cancelled', { cause: req.signal.reason });
        }
        const notOpened = session.connectError();
        if (notOpened) throw notOpened;
        if (limit.timedOut()) {
          throw new AppError(
            'DUMP_FAILED',
            `mysqldump did not finish in ${Math.round(req.timeoutMs / 1000)} s (the ssh session was stopped)`,
            { retryable: true },
          );
        }
        const stderr = bufferText(r.stderr);
        const exitCode = r.exitCode ?? -1;
        const complete = dumpCompleted(tap.tailText());
        if (exitCode === 0 && complete) return;
        if (tap.bytesSeen() > 0 && !complete) {
          // The stream started and stopped short: the session, the dump or the server died.
          const cause =
            exitCode === 255
              ? 'the SSH session ended without an exit status (the connection dropped or the session was killed)'
              : dumpExitError(req.command.program, exitCode, stderr).message;
          throw new AppError(
            'DUMP_FAILED',
            `mysqldump output is truncated after ${tap.bytesSeen()} bytes (no "-- Dump completed" trailer): ${cause}`,
            { details: { exitCode } },
          );
        }
        const sshError = sshConnectionError(req.endpoint.name, exitCode, stderr);
        if (sshError) throw sshError;
        if (exitCode !== 0) throw dumpExitError(req.command.program, exitCode, stderr);
        throw new AppError(
          'DUMP_FAILED',
          `mysqldump output is truncated: it ends without the "-- Dump completed" trailer (${tap.bytesSeen()} bytes received)`,
        );
      },
    });
    const durationMs = Date.now() - started;
    const binlog = parseBinlogPosition(tap.headText());
    req.logger.info(
      { bytes: archive.bytes, uncompressedBytes: archive.uncompressedBytes, durationMs, binlog },
      'database dump stored',
    );
    return { archive, durationMs, binlog };
  } finally {
    stop.abort();
    await Promise.allSettled([child, feeding]);
  }
}
