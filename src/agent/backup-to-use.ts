/**
 * Which backup a verify or restore job means: `payload.backupRowId` (a backups.id),
 * `payload.backupId` (the engine's id), or by default the volume's newest successful,
 * unpruned backup. The backup must belong to the job's volume.
 */
import type { Queryable } from '../db/queryable.js';
import {
  getBackup,
  latestSuccessfulBackup,
  listBackupsOfVolume,
  type BackupRecord,
} from '../db/backups.js';
import { AppError } from '../errors.js';
import type { Job } from '../jobs/job.js';

export async function backupForJob(q: Queryable, job: Job): Promise<BackupRecord> {
  const rowId = job.payload['backupRowId'];
  const backupId = job.payload['backupId'];
  let backup: BackupRecord | null;
  if (typeof rowId === 'number') backup = await getBackup(q, rowId);
  else if (typeof backupId === 'string') {
    backup =
      (await listBackupsOfVolume(q, job.volumeId)).find((b) => b.backupId === backupId) ?? null;
  } else backup = await latestSuccessfulBackup(q, job.volumeId);
  if (backup === null || backup.volumeId !== job.volumeId) {
    throw new AppError(
      'MANIFEST_INVALID',
      `no such backup of volume ${job.volumeId} (${JSON.stringify({ rowId, backupId })})`,
    );
  }
  if (backup.status !== 'succeeded' || backup.manifestPath === null) {
    throw new AppError('MANIFEST_INVALID', `backup ${backup.id} did not succeed; nothing to use`);
  }
  if (backup.prunedAt !== null) {
    throw new AppError('MANIFEST_INVALID', `backup ${backup.id} was pruned`);
  }
  return backup;
}
