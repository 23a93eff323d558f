/**
 * Queries of the `backups` table: one row per backup attempt of a volume, written when the
 * attempt starts and completed with its figures (or its error) when it ends.
 */
import type { Queryable } from './queryable.js';

/**
 * `cancelled`: the agent stopped the run (job cancelled, agent shutdown, lease lost); not a
 * failure of the volume, so the failure views leave it out.
 */
export type BackupStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface BackupRecord {
  id: number;
  volumeId: string;
  jobId: number | null;
  backupId: string | null;
  node: string | null;
  status: BackupStatus;
  reason: string;
  startedAt: Date;
  finishedAt: Date | null;
  bytesRead: number | null;
  bytesWritten: number | null;
  throughputBytesPerS: number | null;
  archives: ArchiveLocation[];
  location: string | null;
  manifestPath: string | null;
  consistency: string | null;
  snapshotPeakPercent: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  verifiedAt: Date | null;
  verifyOk: boolean | null;
  prunedAt: Date | null;
  /** Chain level (0: full), the backup id it is incremental on, its chain's full backup. */
  level: number;
  parentBackupId: string | null;
  chainRootBackupId: string | null;
  /** Why a level-0 backup is full, when the manifest says. */
  fullReason: string | null;
  /** The backend host whose agent made it: its destination holds the archives. */
  backendHost: string | null;
  /** Why its archives were deleted (`retention`, `volume deleted 2026-10-01, grace 30 d`). */
  pruneReason: string | null;
}

/** One stored file of a backup: its checksum and where it is. */
export interface ArchiveLocation {
  file: string;
  sha256: string;
  bytes: number;
  location: string;
}

interface BackupRow {
  id: string;
  volume_id: string;
  job_id: string | null;
  backup_id: string | null;
  node: string | null;
  status: BackupStatus;
  reason: string;
  started_at: Date;
  finished_at: Date | null;
  bytes_read: string | null;
  bytes_written: string | null;
  throughput_bytes_per_s: number | null;
  archives: ArchiveLocation[];
  location: string | null;
  manifest_path: string | null;
  consistency: string | null;
  snapshot_peak_percent: number | null;
  error_code: string | null;
  error_message: string | null;
  verified_at: Date | null;
  verify_ok: boolean | null;
  pruned_at: Date | null;
  level: number;
  parent_backup_id: string | null;
  chain_root_backup_id: string | null;
  full_reason: string | null;
  backend_host: string | null;
  prune_reason: string | null;
}

const num = (v: string | null): number | null => (v === null ? null : Number(v));

function backupFromRow(r: BackupRow): BackupRecord {
  return {
    id: Number(r.id),
    volumeId: r.volume_id,
    jobId: num(r.job_id),
    backupId: r.backup_id,
    node: r.node,
    status: r.status,
    reason: r.reason,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    bytesRead: num(r.bytes_read),
    bytesWritten: num(r.bytes_written),
    throughputBytesPerS: r.throughput_bytes_per_s,
    archives: r.archives,
    location: r.location,
    manifestPath: r.manifest_path,
    consistency: r.consistency,
    snapshotPeakPercent: r.snapshot_peak_percent,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    verifiedAt: r.verified_at,
    verifyOk: r.verify_ok,
    prunedAt: r.pruned_at,
    level: r.level,
    parentBackupId: r.parent_backup_id,
    chainRootBackupId: r.chain_root_backup_id,
    fullReason: r.full_reason,
    backendHost: r.backend_host,
    pruneReason: r.prune_reason,
  };
}

/**
 * The chain columns of a manifest (its `chain`, checked before use): level, parent, root,
 * why full; a manifest from before chains is a full backup of a chain of its own.
 */
export function chainColumns(
  manifest: unknown,
): [number, string | null, string | null, string | null] {
  const c =
    typeof manifest === 'object' && manifest !== null
      ? (manifest as { chain?: unknown }).chain
      : undefined;
  if (typeof c !== 'object' || c === null) return [0, null, null, null];
  const r = c as Record<string, unknown>;
  const level = typeof r['level'] === 'number' && Number.isInteger(r['level']) ? r['level'] : 0;
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const parent = level > 0 ? str(r['parentId']) : null;
  return parent === null && level > 0
    ? [0, null, null, null]
    : [level, parent, str(r['rootId']), str(r['fullReason'])];
}

/**
 * Opens the row of a backup attempt; returns its id. The backend host that will hold it is
 * `backendHost`, else its job's, else the volume's.
 */
export async function startBackup(
  q: Queryable,
  b: {
    volumeId: string;
    jobId: number | null;
    node: string;
    reason: string;
    backendHost?: string | null;
  },
): Promise<number> {
  const res = await q.query<{ id: string }>(
    `INSERT INTO backups (volume_id, job_id, node, reason, backend_host)
     VALUES ($1, $2, $3, $4, coalesce($5::text,
       (SELECT j.backend_host FROM jobs j WHERE j.id = $2),
       (SELECT v.backend_host FROM volumes v WHERE v.id = $1)))
     RETURNING id`,
    [b.volumeId, b.jobId, b.node, b.reason, b.backendHost ?? null],
  );
  return Number(res.rows[0]?.id);
}

/**
 * Closes rows of a job's earlier attempts that never finished (their agent died): the
 * attempt is failed with LEASE_EXPIRED so the history shows it.
 */
export async function failUnfinishedBackupsOfJob(q: Queryable, jobId: number): Promise<number> {
  const res = await q.query(
    `UPDATE backups SET status = 'failed', finished_at = now(), error_code = 'LEASE_EXPIRED',
            error_message = 'the agent running this attempt stopped (its lease lapsed)'
      WHERE job_id = $1 AND status = 'running'`,
    [jobId],
  );
  return res.rowCount ?? 0;
}

export interface BackupSuccess {
  backupId: string;
  location: string;
  manifestPath: string;
  manifest: unknown;
  bytesRead: number;
  bytesWritten: number;
  throughputBytesPerS: number;
  archives: ArchiveLocation[];
  consistency: string;
  snapshotPeakPercent: number | null;
  /** Application consistency (null when no step inside the instance was asked for). */
  consistencyLevel?: 'crash' | 'filesystem' | 'application' | null;
  consistencyDemanded?: 'crash' | 'filesystem' | 'application' | null;
  consistencySteps?: unknown[];
  consistencyReason?: string | null;
  freezeWindowMs?: number | null;
  dumpBytes?: number | null;
}

/** Records a finished backup with its figures. */
export async function recordBackupSuccess(
  q: Queryable,
  id: number,
  s: BackupSuccess,
): Promise<void> {
  await q.query(
    `UPDATE backups SET status = 'succeeded', finished_at = now(), backup_id = $2, location = $3,
            manifest_path = $4, manifest = $5, bytes_read = $6, bytes_written = $7,
            throughput_bytes_per_s = $8, archives = $9, consistency = $10,
            snapshot_peak_percent = $11, consistency_level = $12, consistency_demanded = $13,
            consistency_steps = $14, consistency_reason = $15, freeze_window_ms = $16,
            dump_bytes = $17, level = $18, parent_backup_id = $19, chain_root_backup_id = $20,
            full_reason = $21
      WHERE id = $1`,
    [
      id,
      s.backupId,
      s.location,
      s.manifestPath,
      JSON.stringify(s.manifest),
      s.bytesRead,
      s.bytesWritten,
      s.throughputBytesPerS,
      JSON.stringify(s.archives),
      s.consistency,
      s.snapshotPeakPercent,
      s.consistencyLevel ?? null,
      s.consistencyDemanded ?? null,
      JSON.stringify(s.consistencySteps ?? []),
      s.consistencyReason ?? null,
      s.freezeWindowMs ?? null,
      s.dumpBytes ?? null,
      ...chainColumns(s.manifest),
    ],
  );
}

/** Records a failed backup with its stable error code and message. */
export async function recordBackupFailure(
  q: Queryable,
  id: number,
  e: { code: string; message: string },
): Promise<void> {
  await q.query(
    `UPDATE backups SET status = 'failed', finished_at = now(), error_code = $2, error_message = $3
      WHERE id = $1`,
    [id, e.code, e.message],
  );
}

/**
 * Records a backup run that the agent stopped (its abort signal, code ABORTED): status
 * `cancelled`, with the code and message kept to say why it stopped.
 */
export async function recordBackupCancelled(
  q: Queryable,
  id: number,
  e: { code: string; message: string },
): Promise<void> {
  await q.query(
    `UPDATE backups SET status = 'cancelled', finished_at = now(), error_code = $2,
            error_message = $3
      WHERE id = $1`,
    [id, e.code, e.message],
  );
}

/** Records the outcome of a verify run of a backup. */
export async function recordVerifyResult(
  q: Queryable,
  id: number,
  v: { ok: boolean; error: string | null },
): Promise<void> {
  await q.query(
    `UPDATE backups SET verified_at = now(), verify_ok = $2, verify_error = $3 WHERE id = $1`,
    [id, v.ok, v.error],
  );
}

/** Marks a backup's archives deleted, and why (`retention`, or the volume gone). */
export async function markBackupPruned(
  q: Queryable,
  id: number,
  reason = 'retention',
): Promise<void> {
  await q.query(
    'UPDATE backups SET pruned_at = now(), prune_reason = $2 WHERE id = $1 AND pruned_at IS NULL',
    [id, reason],
  );
}

/** Reads one backup row. */
export async function getBackup(q: Queryable, id: number): Promise<BackupRecord | null> {
  const res = await q.query<BackupRow>('SELECT * FROM backups WHERE id = $1', [id]);
  const row = res.rows[0];
  return row === undefined ? null : backupFromRow(row);
}

/** Every backup row of a volume, newest first. */
export async function listBackupsOfVolume(q: Queryable, volumeId: string): Promise<BackupRecord[]> {
  const res = await q.query<BackupRow>(
    'SELECT * FROM backups WHERE volume_id = $1 ORDER BY started_at DESC, id DESC',
    [volumeId],
  );
  return res.rows.map(backupFromRow);
}

/** The newest successful backup of a volume that is not pruned (what verify defaults to). */
export async function latestSuccessfulBackup(
  q: Queryable,
  volumeId: string,
): Promise<BackupRecord | null> {
  const res = await q.query<BackupRow>(
    `SELECT * FROM backups WHERE volume_id = $1 AND status = 'succeeded' AND pruned_at IS NULL
      ORDER BY started_at DESC, id DESC LIMIT 1`,
    [volumeId],
  );
  const row = res.rows[0];
  return row === undefined ? null : backupFromRow(row);
}

/** A page of a volume's backup rows, newest first: those with a row id below `marker`. */
/** When the volume's newest backup attempt started (any outcome), or null. */
export async function latestBackupStart(q: Queryable, volumeId: string): Promise<Date | null> {
  const res = await q.query<{ started_at: Date | null }>(
    'SELECT max(started_at) AS started_at FROM backups WHERE volume_id = $1',
    [volumeId],
  );
  return res.rows[0]?.started_at ?? null;
}

export async function listBackupsOfVolumePage(
  q: Queryable,
  volumeId: string,
  page: { limit: number; marker: number | null },
): Promise<BackupRecord[]> {
  const res = await q.query<BackupRow>(
    `SELECT * FROM backups WHERE volume_id = $1 AND ($2::bigint IS NULL OR id < $2)
      ORDER BY id DESC LIMIT $3`,
    [volumeId, page.marker, page.limit],
  );
  return res.rows.map(backupFromRow);
}

/** A backup row with the manifest the agent stored (unvalidated JSON) and its verify error. */
export interface BackupDetail extends BackupRecord {
  manifest: unknown;
  verifyError: string | null;
}

/** Reads one backup row with its stored manifest. */
export async function getBackupDetail(q: Queryable, id: number): Promise<BackupDetail | null> {
  const res = await q.query<BackupRow & { manifest: unknown; verify_error: string | null }>(
    'SELECT * FROM backups WHERE id = $1',
    [id],
  );
  const row = res.rows[0];
  return row === undefined
    ? null
    : { ...backupFromRow(row), manifest: row.manifest, verifyError: row.verify_error };
}

/** Backups by outcome, trigger and error code, with their bytes (for metrics). */
export interface BackupOutcomeCount {
  outcome: 'succeeded' | 'failed' | 'cancelled';
  /** What started it: schedule, manual, event, other. */
  trigger: string;
  /** The failure's code; `none` for successes. */
  errorCode: string;
  count: number;
  bytesRead: number;
  bytesStored: number;
}

/** Finished backups counted by outcome, trigger and error code (all time). */
export async function countBackupOutcomes(q: Queryable): Promise<BackupOutcomeCount[]> {
  const res = await q.query<{
    outcome: BackupOutcomeCount['outcome'];
    trigger: string;
    error_code: string;
    n: string;
    bytes_read: string;
    bytes_stored: string;
  }>(
    `SELECT status AS outcome,
            CASE WHEN reason = 'schedule' THEN 'schedule'
                 WHEN reason = 'manual' THEN 'manual'
                 WHEN reason LIKE 'event:%' THEN 'event'
                 ELSE 'other' END AS trigger,
            CASE WHEN status = 'succeeded' THEN 'none' ELSE coalesce(error_code, 'unknown') END
              AS error_code,
            count(*) AS n, coalesce(sum(bytes_read), 0) AS bytes_read,
            coalesce(sum(bytes_written), 0) AS bytes_stored
       FROM backups WHERE status IN ('succeeded', 'failed', 'cancelled')
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
  );
  return res.rows.map((r) => ({
    outcome: r.outcome,
    trigger: r.trigger,
    errorCode: r.error_code,
    count: Number(r.n),
    bytesRead: Number(r.bytes_read),
    bytesStored: Number(r.bytes_stored),
  }));
}

/** Figures of successful backups that metrics show as histograms. */
const FIGURES = {
  duration: 'extract(epoch FROM finished_at - started_at)',
  throughput: 'throughput_bytes_per_s',
  snapshotPeak: 'snapshot_peak_percent',
} as const;

export type BackupFigure = keyof typeof FIGURES;

export interface FigureBuckets {
  /** counts[i]: values in (bounds[i-1], bounds[i]]; counts[bounds.length]: above the last. */
  counts: number[];
  sum: number;
  count: number;
}

/** A histogram of one figure over all successful backups, for Prometheus buckets. */
export async function backupFigureBuckets(
  q: Queryable,
  figure: BackupFigure,
  bounds: readonly number[],
): Promise<FigureBuckets> {
  // k = how many bounds lie below the value: the value belongs to the bucket `le = bounds[k]`.
  const res = await q.query<{ k: string; n: string; s: number }>(
    `SELECT k, count(*) AS n, sum(v) AS s FROM (
       SELECT (SELECT count(*) FROM unnest($1::float8[]) t WHERE t < x.v) AS k, x.v
         FROM (SELECT ${FIGURES[figure]}::float8 AS v FROM backups
                WHERE status = 'succeeded') x
        WHERE x.v IS NOT NULL) y
      GROUP BY k`,
    [bounds],
  );
  const counts = new Array<number>(bounds.length + 1).fill(0);
  let sum = 0;
  let count = 0;
  for (const r of res.rows) {
    const n = Number(r.n);
    counts[Number(r.k)] = n;
    sum += r.s;
    count += n;
  }
  return { counts, sum, count };
}

/** A backup attempt as the mail report lists it. */
export interface BackupInWindow {
  volumeId: string;
  status: BackupStatus;
  node: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  bytesRead: number | null;
  bytesWritten: number | null;
  throughputBytesPerS: number | null;
  consistency: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}

/**
 * Backup attempts that ended in (start, end], and those still running that started
 * by `end`, oldest first.
 */
export async function listBackupsInWindow(
  q: Queryable,
  start: Date,
  end: Date,
): Promise<BackupInWindow[]> {
  const res = await q.query<BackupRow>(
    `SELECT * FROM backups
      WHERE (finished_at > $1 AND finished_at <= $2)
         OR (status = 'running' AND started_at <= $2)
      ORDER BY started_at, id`,
    [start, end],
  );
  return res.rows.map((r) => {
    const b = backupFromRow(r);
    return {
      volumeId: b.volumeId,
      status: b.status,
      node: b.node,
      startedAt: b.startedAt,
      finishedAt: b.finishedAt,
      bytesRead: b.bytesRead,
      bytesWritten: b.bytesWritten,
      throughputBytesPerS: b.throughputBytesPerS,
      consistency: b.consistency,
      errorCode: b.errorCode,
      errorMessage: b.errorMessage,
    };
  });
}

/** A backup whose archives were deleted, with why and its volume's name and project. */
export interface PrunedBackup {
  volumeId: string;
  volumeName: string | null;
  projectId: string | null;
  prunedAt: Date;
  bytesWritten: number | null;
  /** `retention`, or why a gone volume's backups went; null for rows pruned before 0014. */
  reason: string | null;
}

/** Backups whose archives were deleted in (start, end]. */
export async function listBackupsPrunedInWindow(
  q: Queryable,
  start: Date,
  end: Date,
): Promise<PrunedBackup[]> {
  const res = await q.query<{
    volume_id: string;
    volume_name: string | null;
    project_id: string | null;
    pruned_at: Date;
    bytes_written: string | null;
    prune_reason: string | null;
  }>(
    `SELECT b.volume_id, v.name AS volume_name, v.project_id, b.pruned_at, b.bytes_written,
            b.prune_reason
       FROM backups b LEFT JOIN volumes v ON v.id = b.volume_id
      WHERE b.pruned_at > $1 AND b.pruned_at <= $2 ORDER BY b.pruned_at, b.id`,
    [start, end],
  );
  return res.rows.map((r) => ({
    volumeId: r.volume_id,
    volumeName: r.volume_name,
    projectId: r.project_id,
    prunedAt: r.pruned_at,
    bytesWritten: num(r.bytes_written),
    reason: r.prune_reason,
  }));
}

/** A succeeded backup re-created from its manifest on a destination (catalog rebuild). */
export interface BackupFromManifest {
  volumeId: string;
  backupId: string;
  node: string | null;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
  bytesRead: number;
  bytesWritten: number;
  throughputBytesPerS: number;
  archives: ArchiveLocation[];
  location: string;
  manifestPath: string;
  manifest: unknown;
  consistency: string;
  snapshotPeakPercent: number | null;
  /** The backend host whose destination holds it (`host@backend`), as the agent records it. */
  backendHost: string | null;
  /** The consistency columns the agent records from the manifest (recordBackupSuccess). */
  consistencyLevel: 'crash' | 'filesystem' | 'application' | null;
  consistencyDemanded: 'crash' | 'filesystem' | 'application' | null;
  consistencySteps: unknown[];
  consistencyReason: string | null;
  freezeWindowMs: number | null;
  dumpBytes: number | null;
}

/**
 * Inserts the row of a backup found on a destination, as succeeded with its manifest's
 * figures and times; a row with the same backup id (still there, or rebuilt before) is
 * left unchanged. True when a row was inserted.
 */
export async function insertBackupFromManifest(
  q: Queryable,
  b: BackupFromManifest,
): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO backups (volume_id, backup_id, node, status, reason, started_at, finished_at,
                          bytes_read, bytes_written, throughput_bytes_per_s, archives, location,
                          manifest, manifest_path, consistency, snapshot_peak_percent,
                          backend_host, consistency_level, consistency_demanded,
                          consistency_steps, consistency_reason, freeze_window_ms, dump_bytes,
                          level, parent_backup_id, chain_root_backup_id, full_reason)
     VALUES ($1, $2, $3, 'succeeded', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
             $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
     ON CONFLICT (backup_id) DO NOTHING`,
    [
      b.volumeId,
      b.backupId,
      b.node,
      b.reason,
      b.startedAt,
      b.finishedAt,
      b.bytesRead,
      b.bytesWritten,
      b.throughputBytesPerS,
      JSON.stringify(b.archives),
      b.location,
      JSON.stringify(b.manifest),
      b.manifestPath,
      b.consistency,
      b.snapshotPeakPercent,
      b.backendHost,
      b.consistencyLevel,
      b.consistencyDemanded,
      JSON.stringify(b.consistencySteps),
      b.consistencyReason,
      b.freezeWindowMs,
      b.dumpBytes,
      ...chainColumns(b.manifest),
    ],
  );
  return (res.rowCount ?? 0) > 0;
}
