/**
 * `backup --lv VG/LV`: snapshot the LV (thick with a COW, thin in its pool), archive the
 * snapshot, prove the snapshot stayed valid, and remove everything again.
 */
import {
  checkRequest,
  consistencyFields,
  type ConsistencyRequest,
} from '../consistency/consistency-steps.js';
import type { RunOptions } from '../exec/run-command.js';
import { AppError, toAppError } from '../errors.js';
import { runTag, SERVICE_TAG, snapshotLvName } from './args/lvm-args.js';
import type { ArchiveBounds } from './archive-bounds.js';
import { archiveVolume, type Isolation } from './archive-volume.js';
import { checkApplianceRequest } from './appliance.js';
import {
  runBackupFrame,
  startConsistency,
  type BackupRequestBase,
  type BackupResult,
} from './backup-frame.js';
import { createSnapshot, findLv, getVg, removeLvIfPresent } from './lvm.js';
import { assertLvName, assertVgName, cinderVolumeId } from './parse/lvm-names.js';
import { lvKind, snapshotInvalid, type LvInfo } from './parse/lvs-report.js';
import { DEFAULT_SNAPSHOT_SIZE, parseSnapshotSize, snapshotBytes } from './parse/size.js';
import { toolVersions } from './tool-versions.js';
import { SNAPSHOT_LIFETIME, timed } from './timings.js';
import { PeriodicTask } from '../lifecycle/periodic-task.js';
import { stepPoint } from '../lifecycle/step-pause.js';

export interface LvBackupRequest extends BackupRequestBase {
  vg: string;
  lv: string;
  snapshotSize?: string;
  /** Steps inside the instance over SSH: a dump before the snapshot, a freeze around it. */
  consistency?: ConsistencyRequest;
  /** Time and byte bounds of the archive step (default: DEFAULT_ARCHIVE_BOUNDS). */
  archiveBounds?: ArchiveBounds;
  /** Where the filesystems are probed, mounted and read (see ArchiveVolumeRequest). */
  isolation?: Isolation;
}

/** Thin pools this full refuse new snapshots: a pool that fills up fails every thin LV in it. */
export const THIN_POOL_MAX_PERCENT = 90;
/**
 * A thin pool this full while our snapshot exists stops the backup: the snapshot keeps the
 * old copy of every block the tenant rewrites, so a long backup of a busy thin volume can
 * fill the pool and stall (then fail) the writes of every thin volume in it. Removing the
 * snapshot gives those blocks back.
 */
export const THIN_POOL_ABORT_PERCENT = 95;
/**
 * How often a thick snapshot is looked at while it is read (its fill, for the manifest's
 * peak). Its COW only grows while it exists, so the check after the archive reads the end
 * value anyway; each look is an `lvs`, which scans the node's devices and competes with tar
 * and zstd for the CPU, and looks never overlap (a slow `lvs` used to have the next one
 * started beside it every 2 s). In the storage-node guest (test/bench/snapshot-lifetime.ts,
 * 2026-12-02, TCG, load 7-13) one run with looks every 2 s saw `lvs` take 5 s and the
 * archive pass of 46 MiB take 217 s (546 s of CPU) against 47 s for the same tar | zstd by
 * hand; in the next run `lvs` took 0.7 s and main's build and this one archived in 27-41 s
 * and 24-36 s: no difference measured there, the change bounds the `lvs` work.
 */
const SNAPSHOT_POLL_SECONDS = 30;
/** Thin pools fill in seconds under a busy tenant: watched more often. */
const THIN_POOL_POLL_SECONDS = 1;

interface Origin {
  info: LvInfo;
  kind: 'thick' | 'thin';
  cowBytes: number | null;
}

/** Whether a thin pool can no longer be trusted (full, failed, or read-only metadata). */
function poolExhausted(pool: LvInfo): boolean {
  const health = pool.attr.charAt(8);
  return (
    (pool.dataPercent !== null && pool.dataPercent >= 100) ||
    (pool.metadataPercent !== null && pool.metadataPercent >= 100) ||
    health === 'F' ||
    health === 'D' ||
    health === 'M'
  );
}

async function preflight(req: LvBackupRequest, run: RunOptions): Promise<Origin> {
  const info = await findLv(req.vg, req.lv, run);
  if (info === null) {
    throw new AppError('LV_NOT_FOUND', `logical volume ${req.vg}/${req.lv} does not exist`);
  }
  const kind = lvKind(info.attr);
  if (kind === 'thick') {
    const spec = req.snapshotSize ? parseSnapshotSize(req.snapshotSize) : DEFAULT_SNAPSHOT_SIZE;
    const vg = await getVg(req.vg, run);
    const cowBytes = snapshotBytes(spec, info.sizeBytes, vg.extentBytes);
    if (vg.freeBytes < cowBytes) {
      throw new AppError(
        'NO_SNAPSHOT_SPACE',
        `volume group ${req.vg} has ${vg.freeBytes} bytes free; the snapshot needs ${cowBytes}`,
        { details: { freeBytes: vg.freeBytes, neededBytes: cowBytes } },
      );
    }
    return { info, kind, cowBytes };
  }
  if (kind === 'thin') {
    const pool = info.pool !== null ? await findLv(req.vg, info.pool, run) : null;
    if (pool === null) {
      throw new AppError('SNAPSHOT_FAILED', `thin LV ${req.vg}/${req.lv} has no visible pool`);
    }
    const used = Math.max(pool.dataPercent ?? 0, pool.metadataPercent ?? 0);
    if (used >= THIN_POOL_MAX_PERCENT || poolExhausted(pool)) {
      throw new AppError(
        'NO_SNAPSHOT_SPACE',
        `thin pool ${req.vg}/${pool.name} is ${used}% full (limit ${THIN_POOL_MAX_PERCENT}%)`,
        { details: { dataPercent: pool.dataPercent, metadataPercent: pool.metadataPercent } },
      );
    }
    return { info, kind, cowBytes: null };
  }
  throw new AppError(
    'INVALID_ARGUMENT',
    `${req.vg}/${req.lv} is not a plain or thin volume (attr ${info.attr}); back up its origin instead`,
  );
}

/** Reads the snapshot's state: invalid (overflowed) or not, and its fill percentage. */
async function snapshotState(
  vg: string,
  name: string,
  origin: Origin,
  run: RunOptions,
): Promise<{
  exists: boolean;
  invalid: boolean;
  percent: number | null;
  /** The thin pool as lvs saw it (thin snapshots only). */
  pool: LvInfo | null;
}> {
  const snap = await findLv(vg, name, run);
  if (snap === null) return { exists: false, invalid: false, percent: null, pool: null };
  if (origin.kind === 'thick') {
    return {
      exists: true,
      invalid: snapshotInvalid(snap),
      percent: snap.snapPercent,
      pool: null,
    };
  }
  const pool = origin.info.pool !== null ? await findLv(vg, origin.info.pool, run) : null;
  return {
    exists: true,
    invalid: pool !== null && poolExhausted(pool),
    percent: pool?.dataPercent ?? null,
    pool,
  };
}

/**
 * Why the backup must stop now to protect the pool, or null. Pure: the pool as `lvs` saw it
 * while the snapshot exists.
 */
export function thinPoolAlarm(pool: LvInfo): string | null {
  const data = pool.dataPercent ?? 0;
  const meta = pool.metadataPercent ?? 0;
  if (poolExhausted(pool) || Math.max(data, meta) >= THIN_POOL_ABORT_PERCENT) {
    return `thin pool ${pool.name} reached ${Math.max(data, meta)}% (data ${data}%, metadata ${meta}%; limit ${THIN_POOL_ABORT_PERCENT}%) while the snapshot existed`;
  }
  return null;
}

function overflowError(vg: string, name: string, cause?: unknown): AppError {
  return new AppError(
    'SNAPSHOT_OVERFLOW',
    `snapshot ${vg}/${name} overflowed while it was read (the origin changed more than its COW holds); the archives were discarded`,
    cause === undefined ? {} : { cause },
  );
}

export async function backupLv(req: LvBackupRequest): Promise<BackupResult> {
  const vg = assertVgName(req.vg);
  const lv = assertLvName(req.lv);
  if (req.snapshotSize) parseSnapshotSize(req.snapshotSize);
  const baseRun: RunOptions = {
    ...(req.logger ? { logger: req.logger } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  };
  let origin: Origin | null = null;
  let snapName: string | null = null;
  let peak: number | null = null;

  return runBackupFrame(
    {
      ...req,
      sourceName: lv,
      source: { kind: 'lv', vg, lv, device: '' },
      validate: async () => {
        if (req.consistency) checkRequest(req.consistency);
        if (req.isolation === 'appliance') await checkApplianceRequest(req.excludes ?? [], baseRun);
        origin = await preflight({ ...req, vg, lv }, baseRun);
      },
      explainFailure: async (err) => {
        if (
          origin === null ||
          snapName === null ||
          err.code === 'SNAPSHOT_OVERFLOW' ||
          err.code === 'THIN_POOL_FULL'
        ) {
          return err;
        }
        // A COW that overflowed early makes a mount or a read fail first: say why.
        const state = await snapshotState(vg, snapName, origin, {}).catch(() => null);
        return state?.invalid ? overflowError(vg, snapName, err) : err;
      },
    },
    async (ctx) => {
      const o: Origin | null = origin;
      if (o === null) throw new AppError('INTERNAL', 'preflight did not run');
      const run: RunOptions = { logger: ctx.logger, ...(ctx.signal ? { signal: ctx.signal } : {}) };
      const name = snapshotLvName(ctx.runId);
      const tags = [SERVICE_TAG, runTag(ctx.runId)];
      const tools = toolVersions(true, run, req.isolation);
      // The dump runs first, as the mission says: a consistent copy the snapshot cannot give.
      const steps = await startConsistency(req.consistency, ctx);

      // When lvcreate started: the snapshot's lifetime runs from there to the end of
      // lvremove, the time the origin's writes pay for the COW (thick: about half speed).
      let lvcreateAt: number | null = null;
      // Registered before lvcreate: a half-made snapshot is removed too. The removal gets
      // no abort signal: it must run even after the backup was cancelled.
      ctx.stack.push(`lvremove ${vg}/${name}`, async () => {
        await removeLvIfPresent(vg, name, { logger: ctx.logger });
        if (lvcreateAt !== null) ctx.timings[SNAPSHOT_LIFETIME] = Date.now() - lvcreateAt;
      });
      // Taken before lvcreate: what changes after it is the next level's (snar-header.ts).
      const frozenAt = new Date();
      const makeSnapshot = (): Promise<void> => {
        lvcreateAt = Date.now();
        return createSnapshot({ vg, origin: lv, name, tags, cowBytes: o.cowBytes }, run);
      };
      await timed(ctx.timings, 'snapshot', () =>
        steps ? steps.aroundSnapshot(makeSnapshot) : makeSnapshot(),
      );
      snapName = name;
      stepPoint('snapshot');
      ctx.logger.info(
        { snapshot: `${vg}/${name}`, kind: o.kind, cowBytes: o.cowBytes },
        'snapshot made',
      );

      // A thin pool filling up stops the archive (the snapshot is then removed by the stack).
      // One look at a time: the next starts an interval after the last one ended.
      const poolAlarm = new AbortController();
      const watch = new PeriodicTask(
        'snapshot watch',
        o.kind === 'thin' ? THIN_POOL_POLL_SECONDS : SNAPSHOT_POLL_SECONDS,
        async (signal) => {
          const s = await snapshotState(vg, name, o, { signal }).catch(() => null);
          if (s === null) return;
          if (s.percent !== null) peak = Math.max(peak ?? 0, s.percent);
          if (s.pool !== null && !poolAlarm.signal.aborted) {
            const alarm = thinPoolAlarm(s.pool);
            if (alarm !== null) {
              ctx.logger.warn({ snapshot: `${vg}/${name}`, alarm }, 'stopping the backup');
              poolAlarm.abort(new AppError('THIN_POOL_FULL', alarm));
            }
          }
        },
        ctx.logger,
      );
      watch.start();
      const archiveSignal =
        ctx.signal === undefined
          ? poolAlarm.signal
          : AbortSignal.any([ctx.signal, poolAlarm.signal]);
      let vol;
      try {
        vol = await archiveVolume({
          device: `/dev/${vg}/${name}`,
          workDir: ctx.dir.workDir,
          runDir: ctx.runDir,
          excludes: ctx.excludes,
          compression: ctx.compression,
          replayJournal: true,
          stack: ctx.stack,
          timings: ctx.timings,
          logger: ctx.logger,
          signal: archiveSignal,
          ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
          base: ctx.base,
          backupId: ctx.backupId,
          frozenAt,
          ...(req.archiveBounds ? { bounds: req.archiveBounds } : {}),
          ...(req.isolation ? { isolation: req.isolation } : {}),
        });
      } catch (err) {
        if (poolAlarm.signal.aborted && !(ctx.signal?.aborted ?? false)) {
          throw toAppError(poolAlarm.signal.reason);
        }
        throw err;
      } finally {
        await watch.stop();
      }

      // Reads can succeed from the page cache after the COW overflowed: only LVM knows.
      const state = await timed(ctx.timings, 'check', () => snapshotState(vg, name, o, run));
      if (state.percent !== null) peak = Math.max(peak ?? 0, state.percent);
      if (!state.exists || state.invalid) throw overflowError(vg, name);

      return {
        source: {
          kind: 'lv',
          device: `/dev/${vg}/${name}`,
          vg,
          lv,
          volumeId: cinderVolumeId(lv),
          lvType: o.kind,
          sizeBytes: o.info.sizeBytes,
        },
        snapshot: { name, kind: o.kind, sizeBytes: o.cowBytes, peakPercent: peak, tags },
        partitionTable: vol.partitionTable,
        head: vol.head,
        partitions: vol.partitions,
        chain: vol.chain,
        ...consistencyFields(steps, 'crash'),
        tools: await tools,
        totals: vol.totals,
        ...(req.isolation === 'appliance' ? { isolation: 'appliance' as const } : {}),
      };
    },
  );
}
