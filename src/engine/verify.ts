/**
 * Verify a backup without restoring it: every stored file's sha256 against the manifest
 * and SHA256SUMS, zstd's own frame check, and for filesystem archives a full `tar --list`
 * through `zstd -dc` (proves the tar stream is complete and readable).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { runCommand, spawnCommand, stderrTail } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import { tarListArgs, zstdDecompressArgs, zstdTestArgs } from './args/archive-args.js';
import { manifestFiles, parseSha256Sums } from './checksums.js';
import { CHECKSUM_FILE, MANIFEST_FORMAT, type ArchiveFile, type Manifest } from './manifest.js';

export interface VerifyResult {
  ok: boolean;
  archives: { file: string; ok: boolean; error?: string }[];
}

/** Reads and sanity-checks a manifest (MANIFEST_INVALID otherwise). */
export async function readManifest(path: string): Promise<Manifest> {
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch (err) {
    throw new AppError('MANIFEST_INVALID', `cannot read manifest ${path}: ${String(err)}`, {
      cause: err,
    });
  }
  if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.partitions)) {
    throw new AppError('MANIFEST_INVALID', `${path} is not a cinder-lvm-backup manifest`);
  }
  for (const f of manifestFiles(m)) {
    if (typeof f.file !== 'string' || f.file.includes('/') || f.file.startsWith('.')) {
      throw new AppError(
        'MANIFEST_INVALID',
        `manifest names an unsafe file ${JSON.stringify(f.file)}`,
      );
    }
  }
  return m;
}

/** The sha256 (hex) of a file, streamed. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash, signal ? { signal } : {});
  return hash.digest('hex');
}

async function tarListOk(path: string, signal?: AbortSignal): Promise<void> {
  const zstd = spawnCommand('zstd', zstdDecompressArgs(path), signal ? { signal } : {});
  const tar = spawnCommand('tar', tarListArgs(), signal ? { signal } : {});
  zstd.stdin?.end();
  tar.stdout?.resume();
  const piping = pipeline(zstd.stdout, tar.stdin).catch((e: unknown) => e);
  const [z, t] = await Promise.all([zstd, tar]);
  await piping;
  if (z.exitCode !== 0 || t.exitCode !== 0) {
    const err =
      Buffer.from(t.stderr ?? new Uint8Array()).toString() ||
      Buffer.from(z.stderr ?? new Uint8Array()).toString();
    throw new Error(
      `tar --list failed (zstd ${z.exitCode}, tar ${t.exitCode}): ${stderrTail(err)}`,
    );
  }
}

async function verifyOne(
  dir: string,
  f: ArchiveFile,
  sums: Map<string, string>,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const path = join(dir, f.file);
  let actual: string;
  try {
    actual = await sha256File(path, signal);
  } catch (err) {
    return `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  if (actual !== f.sha256) return `sha256 ${actual} differs from the manifest's ${f.sha256}`;
  const listed = sums.get(f.file);
  if (listed !== f.sha256) return `${CHECKSUM_FILE} ${listed ? 'disagrees' : 'has no line'} for it`;
  try {
    await runCommand('zstd', zstdTestArgs(path), signal ? { signal } : {});
    if (f.format === 'tar+zstd') await tarListOk(path, signal);
  } catch (err) {
    return `unreadable: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

/** Verifies the backup whose manifest is at `manifestPath`. */
export async function verifyBackup(req: {
  manifestPath: string;
  signal?: AbortSignal;
}): Promise<VerifyResult> {
  const m = await readManifest(req.manifestPath);
  const dir = dirname(req.manifestPath);
  const sums = parseSha256Sums(await readFile(join(dir, CHECKSUM_FILE), 'utf8').catch(() => ''));
  const archives: VerifyResult['archives'] = [];
  for (const f of manifestFiles(m)) {
    req.signal?.throwIfAborted();
    const error = await verifyOne(dir, f, sums, req.signal);
    archives.push(
      error === undefined ? { file: f.file, ok: true } : { file: f.file, ok: false, error },
    );
  }
  return { ok: archives.every((a) => a.ok), archives };
}
