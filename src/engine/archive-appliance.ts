/**
 * `isolation = appliance`: archives a frozen block device like archive-volume.ts, but every
 * filesystem is probed, mounted and read by tar inside a throw-away libguestfs appliance
 * (appliance.ts), so the node's kernel never parses a tenant filesystem. The host reads only
 * what no kernel interprets: the first MiB, the partition table (sfdisk and blkid -p, in
 * user space) and the bytes of partitions kept raw (read by offset from the whole device;
 * no kpartx, no partition nodes). Each filesystem's tar comes out of the appliance through a
 * FIFO into the usual one pass (zstd, sha256, .partial, rename), so the archives, manifest
 * and SHA256SUMS have the host mode's format and restore/verify read them unchanged.
 *
 * Differences, recorded: full backups only (no listed-incremental snapshot files; an
 * incremental request gets a full one with the reason in `chain.fullReason`), holes are
 * stored as zeros (libguestfs' tar-out has no --sparse), mountOptions is `["ro"]` on the
 * appliance's own read-only overlay (a journal is replayed there, never on the device).
 */
import { AppError, toAppError } from '../errors.js';
import type { RunOptions } from '../exec/run-command.js';
import { DEFAULT_ARCHIVE_BOUNDS, withArchiveTimeLimit, treeByteBound } from './archive-bounds.js';
import { archiveWriter } from './archive-stream.js';
import { archivedVolume, expectedBytes, progressCounter } from './archive-tally.js';
import type { ArchivedVolume, ArchiveVolumeRequest } from './archive-volume.js';
import { ApplianceSession } from './appliance.js';
import {
  applianceDevice,
  parseListFilesystems,
  parseStatvfs,
  tarOutLine,
} from './args/guestfish-args.js';
import { inspectBlockDevice, readHead } from './block-device.js';
import { volumeIdentity } from './chain-rules.js';
import type { ManifestChain, ManifestPartition } from './manifest.js';
import { partitionDisposition } from './parse/mount-options.js';
import { assertPartitionLayout } from './parse/partition-layout.js';
import type { TablePartition } from './parse/sfdisk.js';
import { readPartitionTable } from './partition-table.js';
import { probeDevice } from './probe.js';
import { timed } from './timings.js';

/**
 * Longest the appliance may take to boot: 46-150 s measured under TCG on 2 busy cores; a
 * boot that hangs (a kernel that does not come up) is stopped with COMMAND_TIMEOUT.
 */
export const APPLIANCE_BOOT_TIMEOUT_MS = 15 * 60_000;

/** Why an appliance backup is full although a parent was found. */
export const APPLIANCE_FULL_REASON =
  'isolation appliance makes full backups only (no listed-incremental in the appliance)';

/** `mount-ro DEV /` in the appliance; its failure is the partition's MOUNT_FAILED. */
async function mountIn(session: ApplianceSession, gdev: string): Promise<void> {
  try {
    await session.command('mount-ro', [gdev, '/']);
  } catch (err) {
    const e = toAppError(err);
    if (e.code !== 'ARCHIVE_FAILED') throw e;
    throw new AppError(
      'MOUNT_FAILED',
      `the appliance could not mount ${gdev} read-only: ${e.message}`,
      { cause: err },
    );
  }
}

export async function archiveVolumeInAppliance(req: ArchiveVolumeRequest): Promise<ArchivedVolume> {
  const run: RunOptions = { logger: req.logger, ...(req.signal ? { signal: req.signal } : {}) };
  const dev = await inspectBlockDevice(req.device, run);
  // The archive passes' signal: the caller's, and from the archive step on its time bound.
  let signal = req.signal;
  const write = archiveWriter({
    dir: req.workDir,
    compression: req.compression,
    cwd: req.runDir,
    signal: () => signal,
  });

  // The table, read in user space on the host (what restore recreates it from).
  const whole = await probeDevice(dev.realPath, run);
  let label: 'gpt' | 'dos' | 'none' = 'none';
  let dump: string | null = null;
  let targets: (TablePartition | null)[] = [null];
  await timed(req.timings, 'map', async () => {
    if (whole.ptType !== null) {
      const read = await readPartitionTable(dev.realPath, run);
      assertPartitionLayout(read.table, Math.floor(dev.sizeBytes / 512));
      label = read.table.label;
      dump = read.dump;
      targets = read.table.partitions;
    }
  });
  req.signal?.throwIfAborted();

  const session = ApplianceSession.start(dev.realPath, {
    cwd: req.runDir,
    ...(req.signal ? { signal: req.signal } : {}),
    logger: req.logger,
  });
  req.stack.push('stop the appliance', () => session.close());
  await timed(req.timings, 'appliance', () =>
    session.command('run', [], { timeoutMs: APPLIANCE_BOOT_TIMEOUT_MS }),
  );
  const types = parseListFilesystems(await session.command('list-filesystems'));

  const planned: { entry: ManifestPartition; expectedBytes: number }[] = [];
  await timed(req.timings, 'mount', async () => {
    for (const p of targets) {
      const gdev = applianceDevice(p?.number ?? null);
      const fsType = types.get(gdev) ?? null;
      const sizeBytes = p ? p.sizeSectors * 512 : dev.sizeBytes;
      const one = async (cmd: string): Promise<string | null> =>
        fsType === null || fsType === 'swap'
          ? null
          : (await session.command(cmd, [gdev])).join('\n').trim() || null;
      const entry: ManifestPartition = {
        number: p ? p.number : null,
        startSector: p ? p.startSector : 0,
        sizeBytes,
        fsType,
        uuid: await one('vfs-uuid'),
        label: await one('vfs-label'),
        partUuid: p?.uuid ?? null,
        partType: p?.type ?? null,
        action: 'archived',
      };
      const disposition = partitionDisposition(fsType);
      if (disposition.action !== 'archived') {
        entry.action = disposition.action;
        entry.reason = disposition.reason;
        planned.push({ entry, expectedBytes: entry.action === 'raw' ? sizeBytes : 0 });
        continue;
      }
      await mountIn(session, gdev);
      const fig = parseStatvfs(await session.command('statvfs', ['/']));
      await session.command('umount-all');
      entry.mountOptions = ['ro'];
      entry.fsSizeBytes = fig.fsSizeBytes;
      entry.usedBytes = fig.usedBytes;
      entry.fileCount = fig.inodesUsed;
      planned.push({ entry, expectedBytes: fig.usedBytes });
      req.signal?.throwIfAborted();
    }
  });

  const identity = volumeIdentity({
    sizeBytes: dev.sizeBytes,
    sfdiskDump: dump,
    partitions: planned.map((p) => p.entry),
  });
  const chain: ManifestChain = {
    level: 0,
    parentId: null,
    rootId: req.backupId,
    fullReason: req.base.parent === null ? req.base.fullReason : APPLIANCE_FULL_REASON,
    identity,
  };

  const total = expectedBytes(planned, dev.sizeBytes);
  let done = 0;
  const counter = progressCounter(total, req.onProgress);
  const bounds = req.bounds ?? DEFAULT_ARCHIVE_BOUNDS;
  // The time bound runs from here, as in host mode: the bytes to read are known.
  return withArchiveTimeLimit(
    {
      bounds,
      expectedBytes: total,
      signal: req.signal,
      logger: req.logger,
      bytesRead: () => Math.max(counter.readSoFar(), done),
    },
    (limited) => {
      signal = limited;
      return archivePlanned();
    },
  );

  async function archivePlanned(): Promise<ArchivedVolume> {
    const headData = await readHead(dev.realPath, dev.sizeBytes);
    const head = await timed(req.timings, 'head', () =>
      write('head.bin.zst', { kind: 'buffer', data: headData }),
    );
    done += headData.length;

    for (const p of planned) {
      signal?.throwIfAborted();
      const n = p.entry.number ?? 0;
      const base = done;
      if (p.entry.action === 'archived') {
        req.logger.info(
          { partition: n, fsType: p.entry.fsType },
          'archiving filesystem (appliance)',
        );
        const gdev = applianceDevice(p.entry.number);
        await mountIn(session, gdev);
        p.entry.archive = await timed(req.timings, `archive:p${n}`, () =>
          write(
            `p${n}.tar.zst`,
            {
              kind: 'producer',
              write: async (fifo) => {
                await session.send(tarOutLine(fifo, req.excludes), `tar-out p${n}`);
              },
            },
            counter.pass(`archive p${n}`, base),
            treeByteBound(bounds, p.entry, `p${n}.tar.zst`, req.logger),
          ),
        );
        await session.command('umount-all');
      } else if (p.entry.action === 'raw') {
        req.logger.info({ partition: n, reason: p.entry.reason }, 'keeping partition as raw image');
        p.entry.archive = await timed(req.timings, `archive:p${n}`, () =>
          write(
            `p${n}.raw.zst`,
            {
              kind: 'range',
              device: dev.realPath,
              offset: p.entry.startSector * 512,
              sizeBytes: p.entry.sizeBytes,
            },
            counter.pass(`raw p${n}`, base),
          ),
        );
      }
      done = base + p.expectedBytes;
      req.onProgress?.({ phase: `done p${n}`, bytesDone: done, bytesTotal: total });
    }
    await timed(req.timings, 'appliance-stop', () => session.close());

    // No snapshot files here (full backups only): the totals are the archives' and head's.
    return archivedVolume({
      deviceInfo: dev,
      chain,
      partitionTable: { label, sfdiskDump: dump },
      head,
      partitions: planned.map((p) => p.entry),
    });
  }
}
