/**
 * Whether a Cinder volume may receive a restore of a backup, checked before a job is
 * queued (the agent checks the block device again before it writes). Pure.
 */
import { AppError } from '../errors.js';
import type { Volume } from '../db/volumes.js';

export interface RestoreTargetFacts {
  /** The volume the backup was taken of. */
  source: Volume;
  target: Volume;
  /** Size of the backed-up volume (manifest `source.sizeBytes`), if known. */
  backupSourceBytes: number | null;
  /** Open jobs (queued or running) on the target volume. */
  targetOpenJobs: number;
}

const GIB = 1024 ** 3;

/** Null when the target is fit; otherwise the refusal with its stable code. */
export function restoreTargetProblem(f: RestoreTargetFacts): AppError | null {
  const { source, target } = f;
  if (target.deletedAt !== null) {
    return new AppError('VOLUME_NOT_FOUND', `target volume ${target.id} was deleted`);
  }
  if (target.id === source.id) {
    return new AppError(
      'INVALID_ARGUMENT',
      'restoring a backup over the volume it was taken of is refused; restore to another volume',
    );
  }
  if (target.backendHost === null || target.backendHost !== source.backendHost) {
    return new AppError(
      'INVALID_ARGUMENT',
      `target volume ${target.id} is on ${target.backendHost ?? 'no host'}, but the backup is ` +
        `restored by the agent of ${source.backendHost ?? 'no host'}; create the target there`,
    );
  }
  if (f.backupSourceBytes !== null && target.sizeGb * GIB < f.backupSourceBytes) {
    return new AppError(
      'TARGET_TOO_SMALL',
      `target volume ${target.id} has ${target.sizeGb} GiB; the backup needs ` +
        `${Math.ceil(f.backupSourceBytes / GIB)} GiB`,
    );
  }
  if (target.status !== 'available') {
    return new AppError(
      'TARGET_IN_USE',
      `target volume ${target.id} is ${target.status}; it must be available (detached)`,
    );
  }
  if (f.targetOpenJobs > 0) {
    return new AppError('TARGET_IN_USE', `target volume ${target.id} has a job under way`);
  }
  return null;
}
