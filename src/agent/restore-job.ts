/**
 * The restore job: writes a backup onto the volume the enqueuer checked in Cinder
 * (`payload.targetVolume`: available, no attachments, on this job's host), always as
 * `/dev/<the VG this host is served from>/volume-<uuid>`. The engine re-checks locally
 * (an LV of that VG, a volume not a snapshot, not open) and holds the device exclusively
 * from that check through the wipe.
 */
import { AppError } from '../errors.js';
import { targetDevicePath, targetVolumeOfPayload } from '../jobs/restore-target-volume.js';
import { backupForJob } from './backup-to-use.js';
import { phaseRecorder, type JobHandler } from './job-context.js';

/**
 * The device a restore job writes to: the checked target volume's LV in the VG this agent
 * serves for the job's host. A job without that record (or with a `target` path naming
 * anything else) is refused: the agent never writes where a row alone tells it to.
 */
export function restoreTargetOf(
  payload: Record<string, unknown>,
  vg: string,
  jobHost: string,
): string {
  const checked = targetVolumeOfPayload(payload, jobHost);
  const target = targetDevicePath(vg, checked);
  const named = payload['target'];
  if (named !== undefined && named !== target) {
    throw new AppError(
      'TARGET_REFUSED',
      `restore job names ${JSON.stringify(named)}, but its target volume is ${target}`,
      { retryable: false },
    );
  }
  return target;
}

export const runRestore: JobHandler = async (ctx) => {
  const target = restoreTargetOf(ctx.job.payload, ctx.served.vg, ctx.job.backendHost);
  const backup = await backupForJob(ctx.pool, ctx.job);
  await ctx.record('restore.started', `${backup.backupId ?? backup.id} → ${target}`, {
    backupRowId: backup.id,
    target,
    targetVolume: ctx.job.payload['targetVolume'],
  });
  const progress = phaseRecorder(ctx, 'restore.step');
  const result = await ctx.engine
    .restore({
      manifestPath: backup.manifestPath ?? '',
      target,
      vgs: [ctx.served.vg],
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
