/**
 * Catalog rows → the JSON the API answers (snake_case, ISO times, sizes in bytes). Pure.
 * Storage-node details (host, node, paths) are shown to admins only: a tenant has no use
 * for them, and Cinder hides `os-vol-host-attr:host` from tenants too.
 * The manifest stored by an agent is read field by field, never passed through.
 */
import type { BackupDetail, BackupRecord } from '../db/backups.js';
import type { VolumeStatus } from '../db/volumes.js';
import type { Job } from '../jobs/job.js';

type Json = Record<string, unknown>;

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function errorOf(code: string | null, message: string | null): Json | null {
  return code === null && message === null ? null : { code, message };
}

export function volumeJson(v: VolumeStatus, admin: boolean): Json {
  return {
    id: v.id,
    name: v.name,
    project_id: v.projectId,
    status: v.status,
    size_gb: v.sizeGb,
    host: admin ? v.host : null,
    policy: v.policyText,
    policy_error: v.policyError,
    quota_error: v.quotaError,
    skip_reason: v.skipReason,
    last_success_at: iso(v.lastSuccessAt),
    last_attempt_at: iso(v.lastAttemptAt),
    last_status: v.lastStatus,
    last_error:
      v.lastStatus === 'failed' || v.lastStatus === 'cancelled'
        ? errorOf(v.lastErrorCode, v.lastErrorMessage)
        : null,
    next_due_at: iso(v.nextDueAt),
    overdue: v.overdue,
    backups_kept: v.backupsKept,
    bytes_kept: v.bytesKept,
    open_jobs: v.openJobs.map((j) => ({ id: Number(j.id), kind: j.kind, state: j.state })),
  };
}

export function backupJson(b: BackupRecord, admin: boolean): Json {
  const duration =
    b.finishedAt === null ? null : (b.finishedAt.getTime() - b.startedAt.getTime()) / 1000;
  return {
    id: b.id,
    backup_id: b.backupId,
    volume_id: b.volumeId,
    job_id: b.jobId,
    status: b.status,
    reason: b.reason,
    started_at: iso(b.startedAt),
    finished_at: iso(b.finishedAt),
    duration_seconds: duration,
    bytes_read: b.bytesRead,
    bytes_stored: b.bytesWritten,
    throughput_bytes_per_second: b.throughputBytesPerS,
    consistency: b.consistency,
    snapshot_peak_percent: b.snapshotPeakPercent,
    verified_at: iso(b.verifiedAt),
    verify_ok: b.verifyOk,
    pruned_at: iso(b.prunedAt),
    prune_reason: b.pruneReason,
    error: errorOf(b.errorCode, b.errorMessage),
    node: admin ? b.node : null,
    location: admin ? b.location : null,
  };
}

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const str = (v: unknown): string | null => (typeof v === 'string' ? v.slice(0, 1024) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const SHA256 = /^[0-9a-f]{64}$/;

function archiveJson(v: unknown): Json | null {
  if (!isRecord(v)) return null;
  const sha = str(v['sha256']);
  return {
    file: str(v['file']),
    format: str(v['format']),
    bytes: num(v['bytes']),
    uncompressed_bytes: num(v['uncompressedBytes']),
    sha256: sha !== null && SHA256.test(sha) ? sha : null,
  };
}

/**
 * What a backup holds, from the manifest stored in its catalog row: partition table,
 * partitions with their filesystems, sizes and archive checksums, consistency level and
 * totals. Null when the row has no manifest (the backup did not succeed).
 */
export function manifestSummary(manifest: unknown): Json | null {
  if (!isRecord(manifest)) return null;
  const table = isRecord(manifest['partitionTable']) ? manifest['partitionTable'] : {};
  const source = isRecord(manifest['source']) ? manifest['source'] : {};
  const totals = isRecord(manifest['totals']) ? manifest['totals'] : {};
  const parts = Array.isArray(manifest['partitions']) ? manifest['partitions'].slice(0, 256) : [];
  return {
    backup_id: str(manifest['backupId']),
    consistency: str(manifest['consistency']),
    partition_table: str(table['label']),
    source_size_bytes: num(source['sizeBytes']),
    head: manifest['head'] === null ? null : archiveJson(manifest['head']),
    partitions: parts.filter(isRecord).map((p) => ({
      number: num(p['number']),
      start_sector: num(p['startSector']),
      size_bytes: num(p['sizeBytes']),
      filesystem: str(p['fsType']),
      uuid: str(p['uuid']),
      label: str(p['label']),
      action: str(p['action']),
      reason: str(p['reason']),
      used_bytes: num(p['usedBytes']),
      file_count: num(p['fileCount']),
      archive: p['archive'] === undefined ? null : archiveJson(p['archive']),
    })),
    totals: {
      archived_bytes: num(totals['archivedBytes']),
      stored_bytes: num(totals['storedBytes']),
      file_count: num(totals['fileCount']),
    },
  };
}

export function backupDetailJson(b: BackupDetail, admin: boolean): Json {
  return {
    ...backupJson(b, admin),
    verify_error: b.verifyError,
    manifest: manifestSummary(b.manifest),
  };
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null;
}

export function jobJson(j: Job, admin: boolean): Json {
  return {
    id: j.id,
    kind: j.kind,
    volume_id: j.volumeId,
    state: j.state,
    reason: j.reason,
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    run_at: iso(j.runAt),
    created_at: iso(j.createdAt),
    updated_at: iso(j.updatedAt),
    finished_at: iso(j.finishedAt),
    cancel_requested_at: iso(j.cancelRequestedAt),
    error: errorOf(j.lastErrorCode, j.lastErrorMessage),
    backup_row_id: positiveInt(j.payload['backupRowId']) ?? positiveInt(j.result?.['backupRowId']),
    target_volume_id: str(j.payload['targetVolumeId']),
    node: admin ? j.lockedBy : null,
    backend_host: admin ? j.backendHost : null,
  };
}
