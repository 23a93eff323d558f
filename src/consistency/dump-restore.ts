/**
 * `restore --dump-to FILE|-`: streams a backup's database dump back out, decompressed, so
 * `… | mysql` loads it into any server. The stored bytes are hashed as they are read and
 * checked against the manifest and SHA256SUMS at the end (zstd checks its own frames as it
 * goes); a FILE is written as `FILE.partial` and renamed only when every check passed.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawnCommand, stderrTail } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import { ByteTap, parseSha256Sums } from '../engine/checksums.js';
import { CHECKSUM_FILE } from '../engine/manifest.js';
import { readManifest } from '../engine/verify.js';

export interface DumpOutResult {
  file: string;
  storedBytes: number;
  sqlBytes: number;
  sha256: string;
}

/** Streams the dump of the backup at `manifestPath` into `out` ('-' is standard output). */
export async function streamDumpOut(req: {
  manifestPath: string;
  out: string;
  signal?: AbortSignal;
}): Promise<DumpOutResult> {
  const m = await readManifest(req.manifestPath);
  const dump = m.dump;
  if (dump === undefined) {
    throw new AppError('MANIFEST_INVALID', `backup ${m.backupId} has no database dump`);
  }
  const dir = dirname(req.manifestPath);
  const sums = parseSha256Sums(await readFile(join(dir, CHECKSUM_FILE), 'utf8').catch(() => ''));
  if (sums.get(dump.file) !== dump.sha256) {
    throw new AppError(
      'CHECKSUM_MISMATCH',
      `${CHECKSUM_FILE} disagrees with the manifest about ${dump.file}`,
    );
  }
  const hashing = new ByteTap({ sha256: true });
  const counting = new ByteTap();
  const toStdout = req.out === '-';
  const partial = `${req.out}.partial`;
  const out: Writable = toStdout
    ? process.stdout
    : createWriteStream(partial, { flags: 'wx', mode: 0o600 });
  // No file operand: zstd reads standard input (after `--`, "-" would name a file).
  const zstd = spawnCommand('zstd', ['-d', '-q', '-c'], req.signal ? { signal: req.signal } : {});
  try {
    const results = await Promise.allSettled([
      pipeline(createReadStream(join(dir, dump.file)), hashing, zstd.stdin),
      pipeline(zstd.stdout, counting, out, { end: !toStdout }),
      zstd,
    ]);
    const z = await zstd;
    if (z.exitCode !== 0) {
      throw new AppError(
        'ARCHIVE_UNREADABLE',
        `zstd could not decompress ${dump.file}: ${stderrTail(Buffer.from(z.stderr ?? new Uint8Array()).toString())}`,
      );
    }
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const sha256 = hashing.digest();
    if (sha256 !== dump.sha256) {
      throw new AppError(
        'CHECKSUM_MISMATCH',
        `${dump.file} has sha256 ${sha256}, the manifest says ${dump.sha256}`,
      );
    }
    if (!toStdout) await rename(partial, req.out);
    return { file: dump.file, storedBytes: hashing.bytes, sqlBytes: counting.bytes, sha256 };
  } catch (err) {
    if (!toStdout) await unlink(partial).catch(() => undefined);
    throw err;
  }
}
