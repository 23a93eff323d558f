/**
 * The restore job: writes a backup onto a block device of this node
 * (`payload.target`, e.g. `/dev/cinder-volumes/volume-<id>`) and checks the result
 * against the manifest. The target is checked before anything is written.
 */
import { AppError } from '../errors.js';
import { backupForJob } from './backup-to-use.js';
import { phaseRecorder, type JobHandler } from './job-context.js';

const DEVICE = /^\/dev\/[A-Za-z0-9+_.-]+(\/[A-Za-z0-9+_.-]+)*$/;

/** A restore target must be a plain device path under /dev (no `..`, no shell magic). */
export function checkRestoreTarget(target: unknown): string {
  if (typeof target !== 'string' || !DEVICE.test(target) || target.split('/').includes('..')) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `restore target must be a device path under /dev (got ${JSON.stringify(target)})`,
    );
  }
  return target;
}

export const runRestore: JobHandler = async (ctx) => {
  const target = checkRestoreTarget(ctx.job.payload['target']);
  const backup = await backupForJob(ctx.pool, ctx.job);
  await ctx.record('restore.started', `${backup.backupId ?? backup.id} → ${target}`, {
    backupRowId: backup.id,
    target,
  });
  const progress = phaseRecorder(ctx, 'restore.step');
  const result = await ctx.engine
    .restore({
      manifestPath: backup.manifestPath ?? '',
      target,
      signal: ctx.signal,
      logger: ctx.logger,
      onProgress: progress.onProgress,
    })
    .finally(() => progress.flush());
  const failed = result.checks.filter((c) => !c.ok);
  await ctx.record(result.ok ? 'restore.ok' : 'restore.failed', target, {
    backupRowId: backup.id,
    checks: result.checks,
  });
  if (!result.ok) {
    throw new AppError(
      'RESTORE_MISMATCH',
      `restore of ${backup.backupId ?? backup.id} to ${target} failed checks: ${failed
        .map((c) => `${c.name}${c.detail === undefined ? '' : ` (${c.detail})`}`)
        .join(', ')}`,
      { retryable: false },
    );
  }
  return { backupRowId: backup.id, target, checks: result.checks.length };
};
