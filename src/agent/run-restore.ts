/**
 * The restore job: writes a backup onto a block device of this node
 * (`payload.target`, e.g. `/dev/cinder-volumes/volume-<id>`) and checks the result
 * against the manifest. The target is checked before anything is written.
 */
import { assertLvName, assertVgName } from '../engine/parse/lvm-names.js';
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

/**
 * The device a restore job writes to: `payload.target` (a path, from the CLI), or
 * `payload.targetLvName` (a Cinder volume's LV, from the API) in the VG this agent serves
 * for the job's host. Either is checked before use.
 */
export function restoreTargetOf(payload: Record<string, unknown>, vg: string): string {
  const lv = payload['targetLvName'];
  if (payload['target'] === undefined && typeof lv === 'string') {
    return checkRestoreTarget(`/dev/${assertVgName(vg)}/${assertLvName(lv)}`);
  }
  return checkRestoreTarget(payload['target']);
}

export const runRestore: JobHandler = async (ctx) => {
  const target = restoreTargetOf(ctx.job.payload, ctx.served.vg);
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
