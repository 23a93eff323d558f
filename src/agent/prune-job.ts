/**
 * The prune job: applies the volume's retention (or `payload.retention`) to its backups,
 * deletes the chosen backup directories and marks their rows pruned. A directory is only
 * deleted when it lies inside this agent's destination and is named after its backup.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { listBackupsOfVolume, markBackupPruned, type BackupRecord } from '../db/backups.js';
import { getVolume } from '../db/volumes.js';
import { AppError } from '../errors.js';
import { selectForPruning } from '../policy/retention.js';
import type { JobHandler } from './job-context.js';
import { policyInputs, retentionFrom } from '../policy/stored-policy.js';

/** The directory to delete for a backup, or why it must not be touched. */
export function prunableDir(
  backup: Pick<BackupRecord, 'location' | 'backupId'>,
  dest: string,
): { dir: string } | { refused: string } {
  if (backup.location === null || backup.backupId === null) return { refused: 'no location' };
  const root = path.resolve(dest);
  const dir = path.resolve(backup.location);
  if (!dir.startsWith(root + path.sep)) return { refused: `${dir} is outside ${root}` };
  if (path.basename(dir) !== backup.backupId) {
    return { refused: `${dir} is not named after backup ${backup.backupId}` };
  }
  return { dir };
}

export const runPrune: JobHandler = async (ctx) => {
  const { job, pool } = ctx;
  const volume = await getVolume(pool, job.volumeId);
  if (volume === null)
    throw new AppError('VOLUME_NOT_FOUND', `volume ${job.volumeId} is not in the inventory`);
  const retention =
    job.payload['retention'] !== undefined
      ? retentionFrom(job.payload['retention'])
      : policyInputs(volume.policy).retention;
  const backups = await listBackupsOfVolume(pool, job.volumeId);
  const decision = selectForPruning(
    backups.map((b) => ({
      id: b.id,
      startedAt: b.startedAt,
      status: b.status,
      verifyOk: b.verifyOk,
      prunedAt: b.prunedAt,
      backupId: b.backupId,
      parentBackupId: b.parentBackupId,
    })),
    retention,
    { now: new Date(), timeZone: ctx.options.timeZone },
  );
  await ctx.record('prune.decided', `${decision.prune.length} to prune`, {
    retention,
    keep: decision.keep,
    prune: decision.prune,
  });
  const byId = new Map(backups.map((b) => [b.id, b]));
  const pruned: number[] = [];
  const refused: { id: number; reason: string }[] = [];
  for (const id of decision.prune) {
    ctx.signal.throwIfAborted();
    const backup = byId.get(id);
    if (backup === undefined) continue;
    const target = prunableDir(backup, ctx.options.dest);
    if ('refused' in target) {
      refused.push({ id, reason: target.refused });
      await ctx.record('prune.refused', target.refused, { backupRowId: id });
      continue;
    }
    await rm(target.dir, { recursive: true, force: true });
    await markBackupPruned(pool, id);
    pruned.push(id);
    await ctx.record('prune.removed', target.dir, { backupRowId: id, backupId: backup.backupId });
  }
  if (refused.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `pruned ${pruned.length}, refused ${refused.length}: ${refused.map((r) => `${r.id}: ${r.reason}`).join('; ')}`,
      { retryable: false, details: { pruned, refused } },
    );
  }
  return { pruned, kept: decision.keep.map((k) => k.id) };
};
