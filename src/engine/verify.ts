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
import { readChain } from './backup-chain.js';

export interface VerifyResult {
  ok: boolean;
  /**
   * Each stored file; for an incremental backup also those of the backups below it, named
   * `<backupId>/<file>`, and a `chain` entry when the chain itself is broken.
   */
  archives: { file: string; ok: boolean; error?: string }[];
  /** The backups checked, full backup first. */
  chain: string[];
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

async function verifyFiles(
  m: Manifest,
  dir: string,
  prefix: string,
  archives: VerifyResult['archives'],
  signal?: AbortSignal,
): Promise<void> {
  const sums = parseSha256Sums(await readFile(join(dir, CHECKSUM_FILE), 'utf8').catch(() => ''));
  for (const f of manifestFiles(m)) {
    signal?.throwIfAborted();
    const error = await verifyOne(dir, f, sums, signal);
    const file = prefix + f.file;
    archives.push(error === undefined ? { file, ok: true } : { file, ok: false, error });
  }
}

/**
 * Verifies the backup whose manifest is at `manifestPath`; for an incremental backup, the
 * whole chain it needs to restore (each backup's files, and that the links fit).
 */
export async function verifyBackup(req: {
  manifestPath: string;
  signal?: AbortSignal;
}): Promise<VerifyResult> {
  const m = await readManifest(req.manifestPath);
  const dir = dirname(req.manifestPath);
  const archives: VerifyResult['archives'] = [];
  await verifyFiles(m, dir, '', archives, req.signal);
  const chain = [m.backupId];
  if ((m.chain?.level ?? 0) > 0) {
    try {
      const links = await readChain(req.manifestPath);
      for (const l of links.slice(0, -1)) {
        chain.splice(chain.length - 1, 0, l.manifest.backupId);
        await verifyFiles(l.manifest, l.dir, `${l.manifest.backupId}/`, archives, req.signal);
      }
    } catch (err) {
      if (req.signal?.aborted) throw err;
      archives.push({
        file: 'chain',
        ok: false,
        error: `chain broken: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
  return { ok: archives.every((a) => a.ok), archives, chain };
}
