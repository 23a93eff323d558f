/**
 * Catalog rows for the mail tests: tagged volumes with a daily policy, and backup attempts
 * with chosen times and figures, written with the agent's own catalog functions.
 */
import { recordBackupFailure, recordBackupSuccess, startBackup } from '../../src/db/backups.js';
import type { Queryable } from '../../src/db/queryable.js';
import { recordPolicy } from '../../src/db/volumes.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { addVolume } from '../db/volume-fixtures.js';

/** A volume tagged `backup=daily` with its policy recorded as the controller would. */
export async function dailyVolume(q: Queryable, name: string): Promise<string> {
  const metadata = { backup: 'daily' };
  const v = await addVolume(q, 'node1@lvm', { name, metadata });
  await recordPolicy(q, v.id, parsePolicy(metadata));
  return v.id;
}

export async function successfulBackup(
  q: Queryable,
  volumeId: string,
  o: { start: Date; seconds: number; bytesRead: number; bytesWritten: number },
): Promise<number> {
  const id = await startBackup(q, {
    volumeId,
    jobId: null,
    node: 'node1:1:aa',
    reason: 'schedule',
  });
  await recordBackupSuccess(q, id, {
    backupId: `b-${id}`,
    location: `/srv/backups/${id}`,
    manifestPath: `/srv/backups/${id}/manifest.json`,
    manifest: {},
    bytesRead: o.bytesRead,
    bytesWritten: o.bytesWritten,
    throughputBytesPerS: o.bytesRead / o.seconds,
    archives: [],
    consistency: 'crash-consistent',
    snapshotPeakPercent: 3,
  });
  await q.query('UPDATE backups SET started_at = $2, finished_at = $3 WHERE id = $1', [
    id,
    o.start,
    new Date(o.start.getTime() + o.seconds * 1000),
  ]);
  return id;
}

export async function failedBackup(
  q: Queryable,
  volumeId: string,
  o: { at: Date; code: string; message: string },
): Promise<number> {
  const id = await startBackup(q, {
    volumeId,
    jobId: null,
    node: 'node1:1:aa',
    reason: 'schedule',
  });
  await recordBackupFailure(q, id, { code: o.code, message: o.message });
  await q.query('UPDATE backups SET started_at = $2, finished_at = $3 WHERE id = $1', [
    id,
    new Date(o.at.getTime() - 60_000),
    o.at,
  ]);
  return id;
}
