/**
 * `backup --device DEV`: back up a block device that is already a frozen copy (a Cinder
 * snapshot LV, a loop device of an image). No snapshot is taken and nothing is written to
 * the device: journals are not replayed (ext4 `noload`, xfs `norecovery`).
 */
import { basename } from 'node:path';
import {
  checkRequest,
  consistencyFields,
  type ConsistencyRequest,
} from '../consistency/consistency-steps.js';
import { AppError } from '../errors.js';
import type { ArchiveBounds } from './archive-bounds.js';
import { archiveVolume, type Isolation } from './archive-volume.js';
import { checkApplianceRequest } from './appliance.js';
import { inspectBlockDevice } from './block-device.js';
import {
  runBackupFrame,
  startConsistency,
  type BackupRequestBase,
  type BackupResult,
} from './backup-frame.js';
import { toolVersions } from './tool-versions.js';

export interface DeviceBackupRequest extends BackupRequestBase {
  device: string;
  /** A dump inside the instance over SSH, taken before the device is read (no freeze). */
  consistency?: ConsistencyRequest;
  /** Time and byte bounds of the archive step (default: DEFAULT_ARCHIVE_BOUNDS). */
  archiveBounds?: ArchiveBounds;
  /** Where the filesystems are probed, mounted and read (see ArchiveVolumeRequest). */
  isolation?: Isolation;
}

export async function backupDevice(req: DeviceBackupRequest): Promise<BackupResult> {
  return runBackupFrame(
    {
      ...req,
      sourceName: basename(req.device),
      source: { kind: 'device', device: req.device, vg: null, lv: null },
      validate: async () => {
        if (req.consistency) {
          checkRequest(req.consistency);
          if (req.consistency.freeze?.mountpoints.length) {
            throw new AppError(
              'INVALID_ARGUMENT',
              'a device is backed up as given: there is no snapshot to freeze the instance around',
            );
          }
        }
        await inspectBlockDevice(req.device);
        if (req.isolation === 'appliance') await checkApplianceRequest(req.excludes ?? []);
      },
    },
    async (ctx) => {
      const tools = toolVersions(false, {}, req.isolation);
      const steps = await startConsistency(req.consistency, ctx);
      const vol = await archiveVolume({
        device: req.device,
        workDir: ctx.dir.workDir,
        runDir: ctx.runDir,
        excludes: ctx.excludes,
        compression: ctx.compression,
        replayJournal: false,
        stack: ctx.stack,
        timings: ctx.timings,
        logger: ctx.logger,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
        base: ctx.base,
        backupId: ctx.backupId,
        // A device handed to us was frozen before we started; when exactly, we cannot know.
        frozenAt: ctx.startedAt,
        ...(req.archiveBounds ? { bounds: req.archiveBounds } : {}),
        ...(req.isolation ? { isolation: req.isolation } : {}),
      });
      return {
        source: {
          kind: 'device',
          device: req.device,
          vg: null,
          lv: null,
          volumeId: null,
          lvType: null,
          sizeBytes: vol.deviceInfo.sizeBytes,
        },
        snapshot: null,
        partitionTable: vol.partitionTable,
        head: vol.head,
        partitions: vol.partitions,
        chain: vol.chain,
        ...consistencyFields(steps, 'as-provided'),
        tools: await tools,
        totals: vol.totals,
        ...(req.isolation === 'appliance' ? { isolation: 'appliance' as const } : {}),
      };
    },
  );
}
