/**
 * The backup job: opens the backup row, runs the engine on the volume's LV, and closes the
 * row with the manifest's figures or the error; then queues a prune of the volume.
 */
import { APPLIANCE_FULL_REASON } from '../engine/archive-appliance.js';
import { randomBytes } from 'node:crypto';
import {
  listBackupsOfVolume,
  failUnfinishedBackupsOfJob,
  recordBackupCancelled,
  recordBackupFailure,
  recordBackupSuccess,
  startBackup,
  type ArchiveLocation,
} from '../db/backups.js';
import { getVolume } from '../db/volumes.js';
import { AppError, toAppError } from '../errors.js';
import { enqueueJob } from '../jobs/queue.js';
import type { Manifest } from '../engine/manifest.js';
import { manifestFiles } from '../engine/checksums.js';
import { phaseRecorder, type JobHandler } from './job-context.js';
import { consistencyInputs, policyInputs } from '../policy/stored-policy.js';
import { consistencyRequestFor } from './consistency-request.js';
import { chooseLevel } from '../policy/incremental.js';
import type { LevelRequest } from '../engine/backup-chain.js';
import { persistResult } from './persist-result.js';

/** Every stored file of a backup with its checksum and full path. */
export function archiveLocations(manifest: Manifest, backupDir: string): ArchiveLocation[] {
  return manifestFiles(manifest).map((f) => ({
    file: f.file,
    sha256: f.sha256,
    bytes: f.bytes,
    location: `${backupDir}/${f.file}`,
  }));
}

/** Failures whose details are figures only (bytes read, limits), recorded with the event. */
const FIGURE_CODES: ReadonlySet<string> = new Set(['ARCHIVE_TOO_LARGE', 'ARCHIVE_TIMEOUT']);

export const runBackup: JobHandler = async (ctx) => {
  const { job, pool } = ctx;
  if (job.attempts > 1) {
    const closed = await failUnfinishedBackupsOfJob(pool, job.id);
    if (closed > 0) await ctx.record('backup.orphan-closed', `${closed} earlier attempt(s)`);
  }
  const volume = await getVolume(pool, job.volumeId);
  if (volume === null)
    throw new AppError('VOLUME_NOT_FOUND', `volume ${job.volumeId} is not in the inventory`);
  const inputs = policyInputs(volume.policy);
  // The steps the policy asks of the instance, with the address the controller resolved.
  const consistency = consistencyRequestFor(
    consistencyInputs(volume.policy),
    volume.instance,
    ctx.options.ssh,
    volume.projectId,
  );
  const rowId = await startBackup(pool, {
    volumeId: job.volumeId,
    jobId: job.id,
    node: ctx.agentId,
    reason: job.reason,
    backendHost: job.backendHost,
  });
  // Unique per run (a released job comes back with the same attempt number); names the
  // snapshot (clb-<runId>) and the run directory, so a leftover can be traced to its job.
  const runId = `j${job.id}-a${job.attempts}-${randomBytes(3).toString('hex')}`;
  await ctx.record('backup.started', `${ctx.served.vg}/${job.lvName}`, {
    backupRowId: rowId,
    runId,
  });
  // Incremental on the newest good backup of this destination whose chain is intact, unless
  // the policy (off, full=weekly|every=N) or the job (payload.full) wants a full one.
  let level: LevelRequest;
  if (job.payload['full'] === true)
    level = { kind: 'full', reason: 'full backup asked by the job' };
  else if (ctx.options.isolation === 'appliance')
    level = { kind: 'full', reason: APPLIANCE_FULL_REASON };
  else {
    const history = await listBackupsOfVolume(pool, job.volumeId);
    const choice = chooseLevel(inputs.incremental, history, ctx.options.dest, new Date());
    level =
      choice.kind === 'full' || choice.parent.manifestPath === null
        ? { kind: 'full', reason: choice.kind === 'full' ? choice.reason : 'no manifest' }
        : { kind: 'on', manifestPath: choice.parent.manifestPath };
  }
  await ctx.record(
    'backup.level',
    level.kind === 'full' ? `full: ${level.reason}` : `incremental on ${level.manifestPath}`,
    { backupRowId: rowId },
  );
  const progress = phaseRecorder(ctx, 'backup.step');
  const started = Date.now();
  let result: Awaited<ReturnType<typeof ctx.engine.backup>>;
  try {
    result = await ctx.engine.backup({
      vg: ctx.served.vg,
      lv: job.lvName,
      dest: ctx.options.dest,
      runId,
      excludes: inputs.excludes,
      ...(consistency === null ? {} : { consistency }),
      // What a catalog rebuild needs, should the database be lost.
      catalog: {
        volumeId: volume.id,
        projectId: volume.projectId,
        volumeName: volume.name,
        host: volume.host,
        backendHost: job.backendHost,
        sizeGb: volume.sizeGb,
        node: ctx.agentId,
        reason: job.reason,
        policy: volume.policy,
      },
      ...(ctx.options.snapshotSize === undefined ? {} : { snapshotSize: ctx.options.snapshotSize }),
      ...(ctx.options.isolation === 'appliance' ? { isolation: 'appliance' as const } : {}),
      level,
      ...(ctx.options.archiveBounds === undefined
        ? {}
        : { archiveBounds: ctx.options.archiveBounds }),
      signal: ctx.signal,
      logger: ctx.logger,
      onProgress: progress.onProgress,
    });
  } catch (err) {
    await progress.flush();
    const e = toAppError(err);
    // Stopped by the agent (cancel, shutdown, lost lease) rather than by a fault: the row
    // says cancelled so it is not taken for a failure of the volume.
    if (e.code === 'ABORTED' && ctx.signal.aborted) {
      await recordBackupCancelled(pool, rowId, { code: e.code, message: e.message });
      await ctx.record('backup.cancelled', e.message, { backupRowId: rowId, code: e.code });
    } else {
      await recordBackupFailure(pool, rowId, { code: e.code, message: e.message });
      // The figures of a bound that stopped it (bytes read, the limit) go with the event;
      // other details (a command's stderr) stay in the log.
      await ctx.record('backup.failed', e.message, {
        backupRowId: rowId,
        code: e.code,
        ...(e.details !== undefined && FIGURE_CODES.has(e.code) ? { details: e.details } : {}),
      });
    }
    throw e;
  }
  // The backup exists from here on: its rows are written through database outages (until
  // the lease is given up), never turned into a failure that would run it again.
  await progress.flush();
  const m = result.manifest;
  const backupDir = result.backupDir;
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  const persist = <T>(what: string, write: () => Promise<T>): Promise<T> =>
    persistResult(what, write, { signal: ctx.signal, logger: ctx.logger });
  await persist('the finished backup', () =>
    recordBackupSuccess(pool, rowId, {
      backupId: m.backupId,
      location: backupDir,
      manifestPath: result.manifestPath,
      manifest: m,
      bytesRead: m.totals.archivedBytes,
      bytesWritten: m.totals.storedBytes,
      throughputBytesPerS: m.totals.archivedBytes / seconds,
      archives: archiveLocations(m, backupDir),
      consistency: m.consistency,
      snapshotPeakPercent: m.snapshot?.peakPercent ?? null,
      consistencyLevel:
        m.consistencyReport?.reached ?? (m.consistency === 'crash' ? 'crash' : null),
      consistencyDemanded: m.consistencyReport?.demanded ?? null,
      consistencySteps: m.consistencyReport?.steps ?? [],
      consistencyReason: m.consistencyReport?.reason ?? null,
      freezeWindowMs: m.consistencyReport?.freezeWindowMs ?? null,
      dumpBytes: m.dump?.bytes ?? null,
    }),
  );
  // The row above is the truth; its event is the log. An insert the database refuses
  // (a permission or a trigger; not an outage, persist retries those) is logged: failing
  // the job here would run a backup again that exists and is recorded.
  await persist('the backup.succeeded event', () =>
    ctx.record('backup.succeeded', m.backupId, {
      backupRowId: rowId,
      bytesRead: m.totals.archivedBytes,
      bytesWritten: m.totals.storedBytes,
      seconds,
      level: m.chain?.level ?? 0,
      parentBackupId: m.chain?.parentId ?? null,
      fullReason: m.chain?.fullReason ?? null,
    }),
  ).catch((err: unknown) =>
    ctx.logger.error({ err, backupRowId: rowId }, 'cannot record the backup.succeeded event'),
  );
  let pruneJobId: number | null = null;
  if (inputs.hasRetention) {
    const prune = await persist('the prune job', () =>
      enqueueJob(pool, {
        kind: 'prune',
        volumeId: job.volumeId,
        backendHost: job.backendHost,
        lvName: job.lvName,
        reason: `after-backup:${job.id}`,
      }),
    );
    pruneJobId = prune?.id ?? null;
  }
  return {
    backupRowId: rowId,
    backupId: m.backupId,
    manifestPath: result.manifestPath,
    pruneJobId,
  };
};
