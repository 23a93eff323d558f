/**
 * Backup ids: `<UTC yyyymmddTHHMMSSZ>-<8 hex>`, sortable by time, unique enough to name a
 * directory, a run and a snapshot.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';

export function newBackupId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** True for an id newBackupId could have made (it names a directory: checked before use). */
export function isValidBackupId(id: unknown): id is string {
  return typeof id === 'string' && BACKUP_ID.test(id);
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Run ids end up in LV names, LVM tags and paths: a short, plain alphabet only. */
export function assertRunId(runId: string): string {
  if (!RUN_ID.test(runId)) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `invalid run id ${JSON.stringify(runId)}: 1-64 of [A-Za-z0-9_-], starting with a letter or digit`,
    );
  }
  return runId;
}
