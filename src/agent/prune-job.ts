/**
 * The prune job. Two kinds:
 * - retention (the default): applies the volume's retention (or `payload.retention`) to
 *   its backups;
 * - a gone volume's (`payload.orphan`, queued by the controller's orphan pass with the
 *   backups it lists in `payload.backupRowIds`): decides again whether the volume is still
 *   deleted or off past its grace (src/policy/orphans.ts) and, if so, prunes the listed
 *   backups, newest first; a volume that came back in the meantime loses nothing.
 * Either way it deletes only backups its backend host holds (`backups.backend_host`, which
 * names the host whose agent made them: its destination has the archives). A gone volume's
 * prune that lists a backup held elsewhere is refused with PRUNE_WRONG_HOST: its row stays
 * unpruned, since deleting a directory that is not here would mark a backup gone that
 * another node still keeps. A retention prune leaves the backups other hosts hold (a volume
 * that moved keeps its older backups on the old host) without failing: it says so in an
 * event and its result, and the controller routes a prune to each holder
 * (src/jobs/orphan-pass.ts), which applies the same retention to its own. A directory is deleted
 * only when it lies inside this agent's destination and is named after its backup. Each
 * pruned row records why (`retention`, or "volume deleted 2026-10-01, grace 30 d").
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { listBackupsOfVolume, markBackupPruned, type BackupRecord } from '../db/backups.js';
import { getVolume, type Volume } from '../db/volumes.js';
import { AppError } from '../errors.js';
import { isRecord } from '../is-record.js';
import { orphanBackupsToPrune, orphanState } from '../policy/orphans.js';
import { selectForPruning } from '../policy/retention.js';
import type { JobContext, JobHandler } from './job-context.js';
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

/** The backend host that holds a backup: its own record, else (older rows) its volume's. */
export function holderOf(
  backup: Pick<BackupRecord, 'backendHost'>,
  volume: Pick<Volume, 'backendHost'>,
): string | null {
  return backup.backendHost ?? volume.backendHost;
}

interface PruneChoice {
  prune: number[];
  keep: number[];
  reason: string;
  /** Set when nothing is to be pruned because the volume is not (or no longer) gone. */
  skipped?: string;
}

/** What a gone volume's prune deletes, decided again from the volume as it is now. */
async function orphanChoice(
  ctx: JobContext,
  volume: Volume,
  backups: readonly BackupRecord[],
  orphan: Record<string, unknown>,
): Promise<PruneChoice> {
  const grace = orphan['graceSeconds'];
  const listed = ctx.job.payload['backupRowIds'];
  if (
    typeof grace !== 'number' ||
    !Number.isInteger(grace) ||
    grace < 0 ||
    !Array.isArray(listed) ||
    !listed.every((id) => typeof id === 'number')
  ) {
    throw new AppError(
      'INVALID_ARGUMENT',
      'a prune of a gone volume needs payload.orphan.graceSeconds and payload.backupRowIds',
      { retryable: false },
    );
  }
  const ids = new Set(listed);
  const ofVolume = new Set(backups.map((b) => b.id));
  const strangers = [...ids].filter((id) => !ofVolume.has(id));
  if (strangers.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `backups ${strangers.join(', ')} are not backups of volume ${volume.id}; nothing pruned`,
      { retryable: false, details: { strangers } },
    );
  }
  const state = orphanState(
    {
      deletedAt: volume.deletedAt,
      policyOffAt: volume.policyOffAt,
      hasPolicy: volume.policy !== null || volume.policyError !== null,
    },
    grace,
    new Date(),
  );
  const unpruned = orphanBackupsToPrune(backups);
  if (state.kind !== 'due') {
    const skipped =
      state.kind === 'live'
        ? 'the volume has a policy again (or is back in Cinder): its retention applies'
        : `the grace runs until ${state.pruneAt.toISOString()}`;
    await ctx.record('prune.skipped', skipped, { backupRowIds: [...ids] });
    return { prune: [], keep: unpruned, reason: 'none', skipped };
  }
  return {
    prune: unpruned.filter((id) => ids.has(id)),
    keep: unpruned.filter((id) => !ids.has(id)),
    reason: state.reason,
  };
}

/** What retention deletes: the volume's (or `payload.retention`). */
async function retentionChoice(
  ctx: JobContext,
  volume: Volume,
  backups: readonly BackupRecord[],
): Promise<PruneChoice> {
  const given = ctx.job.payload['retention'];
  const retention =
    given !== undefined ? retentionFrom(given) : policyInputs(volume.policy).retention;
  const decision = selectForPruning(backups, retention, {
    now: new Date(),
    timeZone: ctx.options.timeZone,
  });
  await ctx.record('prune.decided', `${decision.prune.length} to prune`, {
    retention,
    keep: decision.keep,
    prune: decision.prune,
  });
  return { prune: decision.prune, keep: decision.keep.map((k) => k.id), reason: 'retention' };
}

export const runPrune: JobHandler = async (ctx) => {
  const { job, pool } = ctx;
  const volume = await getVolume(pool, job.volumeId);
  if (volume === null)
    throw new AppError('VOLUME_NOT_FOUND', `volume ${job.volumeId} is not in the inventory`);
  const backups = await listBackupsOfVolume(pool, job.volumeId);
  const orphan = job.payload['orphan'];
  const choice = isRecord(orphan)
    ? await orphanChoice(ctx, volume, backups, orphan)
    : await retentionChoice(ctx, volume, backups);
  if (choice.skipped !== undefined) {
    return { pruned: [], kept: choice.keep, skipped: choice.skipped };
  }
  if (isRecord(orphan)) {
    await ctx.record('prune.decided', `${choice.prune.length} to prune: ${choice.reason}`, {
      reason: choice.reason,
      prune: choice.prune,
    });
  }
  const byId = new Map(backups.map((b) => [b.id, b]));
  const pruned: number[] = [];
  const refused: { id: number; reason: string }[] = [];
  const elsewhere: { id: number; backendHost: string | null }[] = [];
  for (const id of choice.prune) {
    ctx.signal.throwIfAborted();
    const backup = byId.get(id);
    if (backup === undefined) continue;
    const holder = holderOf(backup, volume);
    if (holder !== job.backendHost) {
      elsewhere.push({ id, backendHost: holder });
      if (isRecord(orphan)) {
        await ctx.record('prune.refused', `held by ${holder ?? 'an unknown host'}`, {
          backupRowId: id,
          code: 'PRUNE_WRONG_HOST',
          backendHost: holder,
        });
      }
      continue;
    }
    const target = prunableDir(backup, ctx.options.dest);
    if ('refused' in target) {
      refused.push({ id, reason: target.refused });
      await ctx.record('prune.refused', target.refused, { backupRowId: id });
      continue;
    }
    await rm(target.dir, { recursive: true, force: true });
    await markBackupPruned(pool, id, choice.reason);
    pruned.push(id);
    await ctx.record('prune.removed', target.dir, {
      backupRowId: id,
      backupId: backup.backupId,
      reason: choice.reason,
    });
  }
  if (elsewhere.length > 0 && !isRecord(orphan)) {
    // Retention wants them gone, but they are another host's to delete: one event, no
    // failure (this runs after every backup of a moved volume).
    await ctx.record(
      'prune.elsewhere',
      `${elsewhere.length} to prune held by other hosts: ` +
        [...new Set(elsewhere.map((e) => e.backendHost ?? 'an unknown host'))].join(', '),
      { elsewhere },
    );
  } else if (elsewhere.length > 0) {
    throw new AppError(
      'PRUNE_WRONG_HOST',
      `pruned ${pruned.length}; refused ${elsewhere.length} that ${job.backendHost} does not hold: ` +
        elsewhere.map((e) => `${e.id} (held by ${e.backendHost ?? 'an unknown host'})`).join(', '),
      { retryable: false, details: { pruned, elsewhere, refused } },
    );
  }
  if (refused.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `pruned ${pruned.length}, refused ${refused.length}: ${refused.map((r) => `${r.id}: ${r.reason}`).join('; ')}`,
      { retryable: false, details: { pruned, refused } },
    );
  }
  return elsewhere.length > 0
    ? { pruned, kept: choice.keep, reason: choice.reason, heldElsewhere: elsewhere }
    : { pruned, kept: choice.keep, reason: choice.reason };
};
