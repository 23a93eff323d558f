/**
 * `catalog rebuild`: re-creates the catalog's backup rows (and the volumes they belong to,
 * when the inventory lacks them) from the backups on a destination. Every
 * `<dest>/<source>/<backupId>/manifest.json` is read and verified (rebuild-plan.ts: the
 * manifest against its directory and SHA256SUMS, every stored file against its checksum);
 * what verifies becomes a row unless one with its backup id exists, what does not is
 * reported and left alone. Running it again, or on a catalog that still has the rows,
 * changes nothing. Symbolic links are never followed and nothing on the destination is
 * written.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { insertBackupFromManifest } from '../db/backups.js';
import { withTransaction } from '../db/pool.js';
import { insertVolumeFromBackups } from '../db/volumes.js';
import { manifestFiles } from '../engine/checksums.js';
import { CHECKSUM_FILE, MANIFEST_FILE } from '../engine/manifest.js';
import { sha256File } from '../engine/verify.js';
import { AppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import {
  backendHostOf,
  checkFiles,
  checkManifest,
  rowsFromManifest,
  type Skipped,
} from './rebuild-plan.js';

export interface RebuildOptions {
  /** The destination directory the backups were written to (`--dest` of the agent). */
  dest: string;
  /**
   * Only backups of this backend host (`host@backend`); manifests that predate the
   * recorded host are taken as this host's.
   */
  host?: string | null;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface RebuildReport {
  dest: string;
  /** Backup directories found (finished ones, with a manifest). */
  found: number;
  /** Rows inserted, one per backup. */
  rebuilt: { backupId: string; volumeId: string; location: string }[];
  /** Backups that verified and whose row was already in the catalog. */
  present: number;
  /** Volumes inserted because the inventory lacked them. */
  volumesAdded: number;
  /** Backups of another backend host (with --host). */
  otherHost: number;
  /** What did not verify or names no volume, and why. */
  skipped: Skipped[];
  durationMs: number;
}

/** A manifest larger than this is not one of ours (ours are a few KiB). */
const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

/** Reads a regular file (never through a symbolic link) of at most `max` bytes. */
async function readPlainFile(path: string, max: number): Promise<string> {
  const st = await lstat(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  if (st.size > max) throw new Error(`${path} is larger than ${max} bytes`);
  return readFile(path, 'utf8');
}

async function subdirectories(dir: string): Promise<Dirent[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name));
}

/** Rebuilds the catalog rows of the backups under `opts.dest`. */
export async function rebuildCatalog(pool: pg.Pool, opts: RebuildOptions): Promise<RebuildReport> {
  const t0 = Date.now();
  const logger = opts.logger ?? silentLogger;
  const dest = resolve(opts.dest);
  const host = opts.host ?? null;
  const report: RebuildReport = {
    dest,
    found: 0,
    rebuilt: [],
    present: 0,
    volumesAdded: 0,
    otherHost: 0,
    skipped: [],
    durationMs: 0,
  };
  let sources: Dirent[];
  try {
    sources = await subdirectories(dest);
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `cannot read the destination ${dest}`, {
      cause: err,
    });
  }
  for (const source of sources) {
    for (const entry of await subdirectories(join(dest, source.name))) {
      opts.signal?.throwIfAborted();
      const dir = join(dest, source.name, entry.name);
      if (entry.name.endsWith('.partial')) {
        report.skipped.push({ dir, reason: 'unfinished backup (.partial)' });
        continue;
      }
      const skip = (reason: string): void => {
        report.skipped.push({ dir, reason });
        logger.warn({ dir, reason }, 'backup skipped by catalog rebuild');
      };
      let manifestText: string;
      let sumsText: string;
      try {
        manifestText = await readPlainFile(join(dir, MANIFEST_FILE), MANIFEST_MAX_BYTES);
      } catch (err) {
        skip(`no readable ${MANIFEST_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
      report.found += 1;
      try {
        sumsText = await readPlainFile(join(dir, CHECKSUM_FILE), MANIFEST_MAX_BYTES);
      } catch (err) {
        skip(`no readable ${CHECKSUM_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
      const checked = checkManifest(entry.name, manifestText, sumsText);
      if ('reason' in checked) {
        skip(checked.reason);
        continue;
      }
      const m = checked.manifest;
      if (host !== null && backendHostOf(m, host) !== host) {
        report.otherHost += 1;
        continue;
      }
      const planned = rowsFromManifest(m, dir, join(dir, MANIFEST_FILE), host);
      if ('reason' in planned) {
        skip(planned.reason);
        continue;
      }
      const actual = new Map<string, string | { error: string }>();
      for (const f of manifestFiles(m)) {
        const path = join(dir, f.file);
        try {
          if (!(await lstat(path)).isFile()) throw new Error('not a regular file');
          actual.set(f.file, await sha256File(path, opts.signal));
        } catch (err) {
          opts.signal?.throwIfAborted();
          const code = (err as NodeJS.ErrnoException).code;
          actual.set(f.file, { error: code ?? (err as Error).message });
        }
      }
      const bad = checkFiles(manifestFiles(m), actual);
      if (bad !== null) {
        skip(bad);
        continue;
      }
      const { volume, backup } = planned;
      const inserted = await withTransaction(pool, async (client) => {
        const volumeAdded = await insertVolumeFromBackups(client, volume);
        const backupAdded = await insertBackupFromManifest(client, {
          ...backup,
          manifest: checked.document,
        });
        return { volumeAdded, backupAdded };
      });
      if (inserted.volumeAdded) report.volumesAdded += 1;
      if (inserted.backupAdded) {
        report.rebuilt.push({ backupId: m.backupId, volumeId: volume.id, location: dir });
        logger.info({ backupId: m.backupId, volumeId: volume.id }, 'backup row rebuilt');
      } else {
        report.present += 1;
      }
    }
  }
  report.durationMs = Date.now() - t0;
  return report;
}
