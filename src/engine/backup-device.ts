/**
 * `backup --device DEV`: back up a block device that is already a frozen copy (a Cinder
 * snapshot LV, a loop device of an image). No snapshot is taken and nothing is written to
 * the device: journals are not replayed (ext4 `noload`, xfs `norecovery`).
 */
import { basename } from 'node:path';
import { archiveVolume } from './archive-volume.js';
import { inspectBlockDevice } from './block-device.js';
import { runBackupFrame, type BackupProgress, type BackupResult } from './backup-run.js';
import type { Logger } from '../log.js';
import { toolVersions } from './tool-versions.js';

export interface DeviceBackupRequest {
  device: string;
  dest: string;
  excludes?: string[];
  runId?: string;
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (p: BackupProgress) => void;
}

export async function backupDevice(req: DeviceBackupRequest): Promise<BackupResult> {
  return runBackupFrame(
    {
      ...req,
      sourceName: basename(req.device),
      validate: async () => {
        await inspectBlockDevice(req.device);
      },
    },
    async (ctx) => {
      const tools = toolVersions(false);
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
        consistency: 'as-provided',
        tools: await tools,
        totals: vol.totals,
      };
    },
  );
}
