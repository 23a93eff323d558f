/**
 * Backup rows for the tests that read what the catalog makes of them (the views for people,
 * /metrics): a succeeded backup with the figures the test checks, its paths made up.
 */
import { recordBackupSuccess, startBackup } from '../../src/db/backups.js';
import type { Queryable } from '../../src/db/queryable.js';

/** The figures of a succeeded backup that the views and metrics report. */
export interface SuccessFigures {
  bytesWritten: number;
  throughputBytesPerS: number;
  snapshotPeakPercent: number;
}

/**
 * A succeeded scheduled backup of `volumeId` by node `n1`: crash-consistent, no archives,
 * three times as many bytes read as written, stored under `/b/<row id>`. Returns its row id;
 * its times are the database's now() until the caller sets them.
 */
export async function addSucceededBackup(
  q: Queryable,
  volumeId: string,
  figures: SuccessFigures,
): Promise<number> {
  const id = await startBackup(q, { volumeId, jobId: null, node: 'n1', reason: 'schedule' });
  await recordBackupSuccess(q, id, {
    backupId: `b-${id}`,
    location: `/b/${id}`,
    manifestPath: `/b/${id}/manifest.json`,
    manifest: {},
    bytesRead: figures.bytesWritten * 3,
    bytesWritten: figures.bytesWritten,
    throughputBytesPerS: figures.throughputBytesPerS,
    archives: [],
    consistency: 'crash',
    snapshotPeakPercent: figures.snapshotPeakPercent,
  });
  return id;
}
