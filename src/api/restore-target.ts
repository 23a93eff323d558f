/**
 * What the API checks of a restore target beyond the CLI's Cinder check
 * (src/jobs/restore-target-volume.ts: available, detached, same backend host): not the
 * backed-up volume itself, large enough for the backup, no job of ours under way on it.
 * Pure.
 */
import { AppError } from '../errors.js';

export interface RestoreTargetFacts {
  sourceVolumeId: string;
  /** The target as Cinder reports it now. */
  target: { id: string; sizeGb: number };
  /** Size of the backed-up volume (manifest `source.sizeBytes`), if known. */
  backupSourceBytes: number | null;
  /** Open jobs (queued or running) on the target volume. */
  targetOpenJobs: number;
}

const GIB = 1024 ** 3;

/** Null when the target is fit; otherwise the refusal with its stable code. */
export function restoreTargetProblem(f: RestoreTargetFacts): AppError | null {
  const { target } = f;
  if (target.id === f.sourceVolumeId) {
    return new AppError(
      'INVALID_ARGUMENT',
      'restoring a backup over the volume it was taken of is refused; restore to another volume',
    );
  }
  if (f.backupSourceBytes !== null && target.sizeGb * GIB < f.backupSourceBytes) {
    return new AppError(
      'TARGET_TOO_SMALL',
      `target volume ${target.id} has ${target.sizeGb} GiB; the backup needs ` +
        `${Math.ceil(f.backupSourceBytes / GIB)} GiB`,
    );
  }
  if (f.targetOpenJobs > 0) {
    return new AppError('TARGET_IN_USE', `target volume ${target.id} has a job under way`);
  }
  return null;
}
