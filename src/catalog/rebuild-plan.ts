/**
 * The decisions of a catalog rebuild, pure: whether a backup directory found on a
 * destination holds a backup that verifies (its manifest well-formed and named like its
 * directory, `SHA256SUMS` listing exactly the manifest's files with the same checksums,
 * each file hashing to them), and which catalog rows it stands for. The shell that reads
 * the destination and writes the rows is rebuild.ts.
 */
import { isValidBackupId } from '../engine/backup-id.js';
import { manifestFiles, parseSha256Sums } from '../engine/checksums.js';
import { isLevel, type Level } from '../policy/consistency-levels.js';
import type { ArchiveFile, Manifest, ManifestCatalog } from '../engine/manifest.js';
import { validateManifest } from '../engine/restore-manifest.js';
import { isRecord } from '../is-record.js';
import type { BackupFromManifest } from '../db/backups.js';
import type { VolumeFromBackups } from '../db/volumes.js';

/** A backup directory that does not make a row, and why. */
export interface Skipped {
  dir: string;
  reason: string;
}

/** The volume a rebuilt backup belongs to, as far as its manifest knows it. */
export type RebuiltVolume = VolumeFromBackups;

/** A `backups` row re-created from a manifest, with the manifest validated. */
export type RebuiltBackup = Omit<BackupFromManifest, 'manifest'> & { manifest: Manifest };

/** The reason recorded for a rebuilt row whose manifest does not say why it ran. */
export const REBUILT_REASON = 'catalog-rebuild';

/** `as-provided` and the levels, plus the names manifests used before the levels had theirs. */
function isConsistencyLevel(v: unknown): boolean {
  return (
    v === 'as-provided' ||
    isLevel(v) ||
    v === 'crash-consistent' ||
    v === 'filesystem-frozen' ||
    v === 'application-consistent'
  );
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GiB = 1024 ** 3;

/** A short text field from a manifest, or null (nothing from a file is trusted as is). */
function text(v: unknown, max = 255): string | null {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) return null;
  for (let i = 0; i < v.length; i += 1) if (v.charCodeAt(i) < 0x20) return null;
  return v;
}

/**
 * Parses a manifest's text and checks it against its directory name and its SHA256SUMS
 * text: returns the manifest (validated) and the document as written, or the reason it does
 * not verify.
 */
export function checkManifest(
  dirName: string,
  manifestText: string,
  sumsText: string,
): { manifest: Manifest; document: unknown } | { reason: string } {
  let manifest: Manifest;
  let document: unknown;
  try {
    document = JSON.parse(manifestText);
    manifest = validateManifest(document);
  } catch (err) {
    return { reason: `manifest invalid: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!isValidBackupId(manifest.backupId) || manifest.backupId !== dirName) {
    return {
      reason: `manifest backupId ${JSON.stringify(manifest.backupId)} does not name its directory`,
    };
  }
  const started = Date.parse(manifest.startedAt);
  const finished = Date.parse(manifest.finishedAt);
  if (Number.isNaN(started) || Number.isNaN(finished) || finished < started) {
    return { reason: 'manifest times are missing or out of order' };
  }
  const t: unknown = manifest.totals;
  const bytes = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!isRecord(t) || !bytes(t['archivedBytes']) || !bytes(t['storedBytes'])) {
    return { reason: 'manifest totals are missing or not byte counts' };
  }
  if (!isConsistencyLevel(manifest.consistency)) {
    return { reason: `manifest consistency ${JSON.stringify(manifest.consistency)} is unknown` };
  }
  const timings: unknown = manifest.timings;
  if (!isRecord(timings)) return { reason: 'manifest timings are missing' };
  const sums = parseSha256Sums(sumsText);
  const files = manifestFiles(manifest);
  if (files.length === 0) return { reason: 'manifest lists no stored file' };
  for (const f of files) {
    const listed = sums.get(f.file);
    if (listed === undefined) return { reason: `SHA256SUMS has no line for ${f.file}` };
    if (listed !== f.sha256) return { reason: `SHA256SUMS and the manifest disagree on ${f.file}` };
  }
  for (const name of sums.keys()) {
    if (!files.some((f) => f.file === name)) {
      return { reason: `SHA256SUMS lists ${name}, which the manifest does not` };
    }
  }
  // The row keeps the manifest as written (validateManifest returns only what a restore
  // reads; the API's summary also shows usedBytes, which it would drop).
  return { manifest, document };
}

/** Compares each stored file's actual sha256 (or why it could not be read) with the manifest. */
export function checkFiles(
  files: readonly ArchiveFile[],
  actual: ReadonlyMap<string, string | { error: string }>,
): string | null {
  for (const f of files) {
    const got = actual.get(f.file);
    if (got === undefined) return `${f.file} was not read`;
    if (typeof got !== 'string') return `${f.file}: ${got.error}`;
    if (got !== f.sha256) return `${f.file} does not match its checksum`;
  }
  return null;
}

/** A whole number of bytes or milliseconds from a manifest, or null. */
function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** A level from a manifest, or null. */
function level(v: unknown): Level | null {
  return isLevel(v) ? v : null;
}

/**
 * The consistency columns of a backup row as the agent records them when the backup ends
 * (backup-job.ts): from the manifest's report of the steps inside the instance, else
 * `crash` for a crash-consistent snapshot (`crash-consistent` in manifests that predate the
 * levels, as migration 0009 maps it).
 */
export function consistencyColumnsOf(
  m: Manifest,
): Pick<
  RebuiltBackup,
  | 'consistencyLevel'
  | 'consistencyDemanded'
  | 'consistencySteps'
  | 'consistencyReason'
  | 'freezeWindowMs'
  | 'dumpBytes'
> {
  const r: unknown = m.consistencyReport;
  const report = isRecord(r) ? r : null;
  // A string from the file: older manifests hold names the type no longer lists.
  const named: string = m.consistency;
  const crash = named === 'crash' || named === 'crash-consistent';
  const legacyCrash = named === 'crash-consistent' ? 'crash' : null;
  const steps = report?.['steps'];
  const reason = report?.['reason'];
  const d: unknown = m.dump;
  return {
    consistencyLevel: level(report?.['reached']) ?? (crash ? 'crash' : null),
    consistencyDemanded: level(report?.['demanded']) ?? legacyCrash,
    consistencySteps: Array.isArray(steps) ? steps.filter(isRecord) : [],
    consistencyReason: typeof reason === 'string' && reason.length <= 4096 ? reason : null,
    freezeWindowMs: count(report?.['freezeWindowMs']),
    dumpBytes: isRecord(d) ? count(d['bytes']) : null,
  };
}

/** The catalog facts of a manifest, checked field by field (null when it has none). */
export function catalogOf(m: Manifest): ManifestCatalog | null {
  const c: unknown = m.catalog;
  if (!isRecord(c)) return null;
  const volumeId = text(c['volumeId'], 36);
  if (volumeId === null || !UUID.test(volumeId)) return null;
  const sizeGb = c['sizeGb'];
  return {
    volumeId: volumeId.toLowerCase(),
    projectId: text(c['projectId']),
    volumeName: text(c['volumeName']),
    host: text(c['host']),
    backendHost: text(c['backendHost']),
    sizeGb: typeof sizeGb === 'number' && Number.isInteger(sizeGb) && sizeGb > 0 ? sizeGb : null,
    node: text(c['node']),
    reason: text(c['reason']),
    policy: isRecord(c['policy']) ? c['policy'] : null,
  };
}

/** The backend host a manifest's backup belongs to: recorded, or `fallback` for old ones. */
export function backendHostOf(m: Manifest, fallback: string | null): string | null {
  return catalogOf(m)?.backendHost ?? fallback;
}

/**
 * The rows a verified manifest stands for, or why it makes none (no volume to attach it
 * to). `dir` is the backup's directory, `hostFallback` the `--host` given for manifests
 * that predate the catalog facts.
 */
export function rowsFromManifest(
  m: Manifest,
  dir: string,
  manifestPath: string,
  hostFallback: string | null,
): { volume: RebuiltVolume; backup: RebuiltBackup } | { reason: string } {
  const cat = catalogOf(m);
  const volumeId = cat?.volumeId ?? text(m.source.volumeId, 36)?.toLowerCase() ?? null;
  if (volumeId === null || !UUID.test(volumeId)) {
    return { reason: 'the manifest names no Cinder volume' };
  }
  const lvName = text(m.source.lv) ?? `volume-${volumeId}`;
  const startedAt = new Date(m.startedAt);
  const finishedAt = new Date(m.finishedAt);
  const total = m.timings['total'];
  const ms =
    typeof total === 'number' && total > 0 ? total : finishedAt.getTime() - startedAt.getTime();
  const seconds = Math.max(ms / 1000, 0.001);
  return {
    volume: {
      id: volumeId,
      name: cat?.volumeName ?? null,
      projectId: cat?.projectId ?? null,
      host: cat?.host ?? null,
      backendHost: cat?.backendHost ?? hostFallback,
      lvName,
      sizeGb: cat?.sizeGb ?? Math.max(1, Math.ceil(m.source.sizeBytes / GiB)),
      policy: cat?.policy ?? null,
    },
    backup: {
      volumeId,
      backupId: m.backupId,
      node: cat?.node ?? null,
      reason: cat?.reason ?? REBUILT_REASON,
      startedAt,
      finishedAt,
      bytesRead: m.totals.archivedBytes,
      bytesWritten: m.totals.storedBytes,
      throughputBytesPerS: m.totals.archivedBytes / seconds,
      archives: manifestFiles(m).map((f) => ({
        file: f.file,
        sha256: f.sha256,
        bytes: f.bytes,
        location: `${dir}/${f.file}`,
      })),
      location: dir,
      manifestPath,
      manifest: m,
      consistency: m.consistency,
      snapshotPeakPercent:
        typeof m.snapshot?.peakPercent === 'number' ? m.snapshot.peakPercent : null,
      backendHost: cat?.backendHost ?? hostFallback,
      ...consistencyColumnsOf(m),
    },
  };
}
