/**
 * Archives one block device that is already a frozen copy (our snapshot, or a device
 * handed to `backup --device`): head, partition table, then per partition a filesystem
 * archive, a raw image, or a recorded skip. Mounts and maps go on the caller's cleanup
 * stack; files go into the caller's work directory.
 */
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunOptions } from '../exec/run-command.js';
import type { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { archiveWriter } from './archive-stream.js';
import { archivedVolume, expectedBytes, progressCounter } from './archive-tally.js';
import {
  DEFAULT_ARCHIVE_BOUNDS,
  withArchiveTimeLimit,
  treeByteBound,
  type ArchiveBounds,
} from './archive-bounds.js';
import { archiveVolumeInAppliance } from './archive-appliance.js';
import { inspectBlockDevice, readHead, type BlockDeviceInfo } from './block-device.js';
import type { ChainBase, ChainLink } from './backup-chain.js';
import { identityChange, volumeIdentity } from './chain-rules.js';
import type { ArchiveFile, ManifestChain, ManifestPartition, Manifest } from './manifest.js';
import { snarDeviceFor, withSnarDevice } from './parse/snar-device.js';
import { withSnarTime } from './parse/snar-header.js';
import { readArchive } from './restore-stream.js';
import { btrfsAfterMount, btrfsBeforeMount, btrfsForget } from './btrfs-guard.js';
import { openMountNamespace, type MountNamespace } from './mount-namespace.js';
import { filesystemFigures, mountedDevice, mountReadOnly, unmountAndRemove } from './mounts.js';
import { mountOptionsFor, partitionDisposition } from './parse/mount-options.js';
import { assertPartitionLayout } from './parse/partition-layout.js';
import type { TablePartition } from './parse/sfdisk.js';
import { partitionDevices } from './partition-devices.js';
import { readPartitionTable } from './partition-table.js';
import { probeDevice } from './probe.js';
import type { Progress } from './progress.js';
import { timed, type Timings } from './timings.js';
import { stepPoint } from '../lifecycle/step-pause.js';
import { settleAll } from '../lifecycle/settle-all.js';

export interface ArchiveVolumeRequest {
  device: string;
  workDir: string;
  runDir: string;
  excludes: readonly string[];
  compression: { level: number; threads: number };
  /** True on our own snapshot (journal replay allowed), false on someone else's device. */
  replayJournal: boolean;
  stack: CleanupStack;
  timings: Timings;
  signal?: AbortSignal;
  logger: Logger;
  onProgress?: (p: Progress) => void;
  /** The chain this backup continues (its last link is the parent), or why it is full. */
  base: ChainBase;
  backupId: string;
  /**
   * When the copy was frozen (before lvcreate; for a device, when the backup started):
   * the dump time written into the tar snapshot files (see parse/snar-header.ts).
   */
  frozenAt: Date;
  /** Time and byte bounds of the archive step (default: DEFAULT_ARCHIVE_BOUNDS). */
  bounds?: ArchiveBounds;
  /**
   * `host` (the default): partitions mapped, filesystems mounted in a private namespace of
   * this node's kernel. `appliance`: probed, mounted and read inside a libguestfs appliance
   * (archive-appliance.ts).
   */
  isolation?: Isolation;
}

export type Isolation = 'host' | 'appliance';

export type ArchivedVolume = Pick<Manifest, 'partitionTable' | 'head' | 'partitions' | 'totals'> & {
  deviceInfo: BlockDeviceInfo;
  chain: ManifestChain;
};

/** A snapshot file is one line per directory: far below this unless something is wrong. */
const SNAR_MAX_BYTES = 4 * 1024 ** 3;

interface Planned {
  entry: ManifestPartition;
  device: string;
  mountpoint?: string;
  /** Bytes the archive step will read (used bytes of a filesystem, size of a raw image). */
  expectedBytes: number;
}

function checkAbort(signal?: AbortSignal): void {
  signal?.throwIfAborted();
}

/** Archives `req.device` into `req.workDir`; returns the manifest's volume sections. */
export async function archiveVolume(req: ArchiveVolumeRequest): Promise<ArchivedVolume> {
  if (req.isolation === 'appliance') return archiveVolumeInAppliance(req);
  const run: RunOptions = { logger: req.logger, ...(req.signal ? { signal: req.signal } : {}) };
  // Undo steps run after a cancel too: they must not carry the (aborted) signal.
  const undoRun: RunOptions = { logger: req.logger };
  const dev = await inspectBlockDevice(req.device, run);
  const compression = req.compression;
  // The archive step's own signal: the caller's, or the time bound's once it is armed.
  let signal = req.signal;
  const write = archiveWriter({
    dir: req.workDir,
    compression: compression,
    cwd: req.runDir,
    signal: () => signal,
  });

  // Discovery: the table (or none), and a device node per partition.
  const whole = await probeDevice(dev.realPath, run);
  let label: 'gpt' | 'dos' | 'none' = 'none';
  let dump: string | null = null;
  let targets: { partition: TablePartition | null; device: string }[];
  await timed(req.timings, 'map', async () => {
    if (whole.ptType !== null) {
      const read = await readPartitionTable(dev.realPath, run);
      assertPartitionLayout(read.table, Math.floor(dev.sizeBytes / 512));
      label = read.table.label;
      dump = read.dump;
      targets = await partitionDevices(dev, read.table.partitions, req.stack, run);
      stepPoint('kpartx');
    } else {
      targets = [{ partition: null, device: dev.realPath }];
    }
  });
  checkAbort(req.signal);

  // The tenant's filesystems are mounted only in a namespace of this job (opened at the
  // first mount; closed after the last unmount, the stack being LIFO).
  let ns: MountNamespace | undefined;
  const namespace = async (): Promise<MountNamespace> => {
    if (ns === undefined) {
      const opened = await openMountNamespace(req.runDir);
      req.stack.push(`close mount namespace ${opened.pid}`, () => opened.close());
      ns = opened;
    }
    return ns;
  };

  // Probe and mount everything first, so progress knows the total before reading.
  const planned: Planned[] = [];
  const keepRaw = (entry: ManifestPartition, device: string, reason: string): void => {
    entry.action = 'raw';
    entry.reason = reason;
    planned.push({ entry, device, expectedBytes: entry.sizeBytes });
  };

  await timed(req.timings, 'mount', async () => {
    for (const t of targets) {
      // Without a partition table the one target is the device blkid has just probed.
      const probe = t.device === dev.realPath ? whole : await probeDevice(t.device, run);
      const p = t.partition;
      const n = p?.number ?? 0;
      const sizeBytes = p ? p.sizeSectors * 512 : dev.sizeBytes;
      const entry: ManifestPartition = {
        number: p ? p.number : null,
        startSector: p ? p.startSector : 0,
        sizeBytes,
        fsType: probe.type,
        uuid: probe.uuid,
        label: probe.label,
        partUuid: p?.uuid ?? null,
        partType: p?.type ?? null,
        action: 'archived',
      };
      const disposition = partitionDisposition(probe.type);
      const plan =
        probe.type !== null ? mountOptionsFor(probe.type, req.replayJournal, t.device) : null;
      if (disposition.action !== 'archived' || plan === null) {
        entry.action = disposition.action === 'archived' ? 'raw' : disposition.action;
        if ('reason' in disposition) entry.reason = disposition.reason;
        planned.push({
          entry,
          device: t.device,
          expectedBytes: entry.action === 'raw' ? sizeBytes : 0,
        });
        continue;
      }
      let btrfsFsid: string | null = null;
      if (plan.fsType === 'btrfs') {
        const pre = await btrfsBeforeMount(t.device, run);
        if (!pre.ok) {
          req.logger.warn({ partition: n, reason: pre.reason }, 'btrfs kept raw');
          keepRaw(entry, t.device, pre.reason);
          continue;
        }
        btrfsFsid = pre.fsid;
      }
      const mountpoint = join(req.runDir, `p${n}`);
      const space = await namespace();
      if (btrfsFsid !== null) {
        // Registered by the mount (even one that fails); dropped once it is unmounted (LIFO).
        const dev = t.device;
        req.stack.push(`btrfs device scan --forget ${dev}`, () => btrfsForget([dev], undoRun));
      }
      await mountReadOnly(t.device, mountpoint, plan.fsType, plan.options, run, space);
      const dropMount = req.stack.push(`umount ${mountpoint}`, () =>
        unmountAndRemove(mountpoint, undoRun, false, space),
      );
      stepPoint(`mount:p${n}`);
      if (btrfsFsid !== null) {
        const post = await btrfsAfterMount(btrfsFsid, t.device);
        if (post !== null) {
          await unmountAndRemove(mountpoint, undoRun, false, space);
          dropMount();
          req.logger.warn({ partition: n, reason: post }, 'btrfs kept raw');
          keepRaw(entry, t.device, post);
          continue;
        }
      }
      entry.mountOptions = plan.options;
      const fig = await filesystemFigures(mountpoint, space);
      entry.fsSizeBytes = fig.fsSizeBytes;
      entry.usedBytes = fig.usedBytes;
      entry.fileCount = fig.inodesUsed;
      planned.push({ entry, device: t.device, mountpoint, expectedBytes: fig.usedBytes });
      checkAbort(req.signal);
    }
  });

  // The chain: continue the parent's unless the volume is not the one it saw.
  const identity = volumeIdentity({
    sizeBytes: dev.sizeBytes,
    sfdiskDump: dump,
    partitions: planned.map((p) => p.entry),
  });
  let parentChain: ChainLink[] | null = req.base.parent;
  let fullReason = req.base.fullReason;
  const parentLink = parentChain?.[parentChain.length - 1];
  if (parentLink !== undefined) {
    const before = parentLink.manifest.chain?.identity;
    const noSnar = parentLink.manifest.partitions.some(
      (x) => x.action === 'archived' && x.snapshotFile === undefined,
    );
    const changed =
      before === undefined
        ? 'the parent has no chain record'
        : noSnar
          ? 'the parent has no tar snapshot files (made with isolation appliance)'
          : identityChange(before, identity);
    if (changed !== null) {
      req.logger.warn({ parent: parentLink.manifest.backupId, reason: changed }, 'new full chain');
      parentChain = null;
      fullReason = changed;
    }
  }
  const parent = parentChain === null ? null : (parentLink as ChainLink);
  const chain: ManifestChain = {
    level: parent === null ? 0 : (parent.manifest.chain?.level ?? 0) + 1,
    parentId: parent?.manifest.backupId ?? null,
    rootId: parent?.manifest.chain?.rootId ?? req.backupId,
    fullReason: parent === null ? fullReason : null,
    identity,
  };

  /**
   * The tar snapshot file to start from: the parent's for this partition, or none (full).
   * Its directories get this mount's device number (see parse/snar-device.ts), so that tar
   * pairs a renamed directory with its old name by inode as it does on one device.
   */
  const startSnapshot = async (
    p: Planned & { mountpoint: string },
    path: string,
  ): Promise<void> => {
    const { entry } = p;
    req.stack.push(`remove ${path}`, () => unlink(path).catch(() => undefined));
    if (parent === null) return;
    const from = parent.manifest.partitions.find((x) => x.number === entry.number)?.snapshotFile;
    if (from === undefined) {
      throw new AppError('INTERNAL', `parent lacks p${entry.number ?? 0}'s snapshot file`);
    }
    await readArchive({
      path: join(parent.dir, from.file),
      archive: from,
      sink: { kind: 'file', path, maxBytes: SNAR_MAX_BYTES },
      ...(signal ? { signal } : {}),
    });
    const device = snarDeviceFor(entry.fsType, await mountedDevice(p.mountpoint, ns));
    await writeFile(path, withSnarDevice(await readFile(path), device));
  };
  /** Stores the updated snapshot file, its dump time set to when the copy was frozen. */
  const storeSnapshot = async (n: number, path: string): Promise<ArchiveFile> => {
    await writeFile(path, withSnarTime(await readFile(path), req.frozenAt.getTime()));
    const size = (await stat(path)).size;
    const stored = await write(`p${n}.snar.zst`, { kind: 'file', path, sizeBytes: size });
    await unlink(path);
    return stored;
  };

  const total = expectedBytes(planned, dev.sizeBytes);
  let done = 0;
  const counter = progressCounter(total, req.onProgress);
  const progress = counter.pass;

  const bounds = req.bounds ?? DEFAULT_ARCHIVE_BOUNDS;
  /** A filesystem's byte bound, handed to the tar pass (see archive-bounds.ts). */
  const byteBound = (p: Planned, file: string) => treeByteBound(bounds, p.entry, file, req.logger);
  const archivePlanned = async (): Promise<ArchivedVolume> => {
    const headData = await readHead(dev.realPath, dev.sizeBytes);
    // The head and the parents' snapshot files are small and independent: stored and
    // unpacked side by side (each is a zstd process) before the first tar starts.
    const trees = planned.filter(
      (p): p is Planned & { mountpoint: string } =>
        p.entry.action === 'archived' && p.mountpoint !== undefined,
    );
    const snarOf = (p: Planned): string => join(req.runDir, `p${p.entry.number ?? 0}.snar`);
    const storeHead = timed(req.timings, 'head', () =>
      write('head.bin.zst', { kind: 'buffer', data: headData }),
    );
    await settleAll([
      storeHead,
      ...trees.map((p) =>
        timed(req.timings, `snar:p${p.entry.number ?? 0}`, () => startSnapshot(p, snarOf(p))),
      ),
    ]);
    const head = await storeHead;
    done += headData.length;

    // The namespace the trees are mounted in (none when nothing was mounted).
    const mounted: MountNamespace | undefined = ns;
    for (const p of planned) {
      checkAbort(signal);
      const n = p.entry.number ?? 0;
      const base = done;
      if (p.entry.action !== 'skipped') {
        req.onProgress?.({
          phase: `${p.entry.action === 'raw' ? 'raw' : 'archive'} p${n}`,
          bytesDone: base,
          bytesTotal: total,
        });
      }
      if (p.entry.action === 'archived' && p.mountpoint) {
        const mountpoint = p.mountpoint;
        req.logger.info(
          { partition: n, fsType: p.entry.fsType, level: chain.level },
          'archiving filesystem',
        );
        const snar = snarOf(p);
        p.entry.archive = await timed(req.timings, `archive:p${n}`, () =>
          write(
            `p${n}.tar.zst`,
            {
              kind: 'tree',
              mountpoint,
              excludes: req.excludes,
              snapshotFile: snar,
              ...(mounted === undefined
                ? {}
                : {
                    wrap: (program: string, args: readonly string[]) => mounted.wrap(program, args),
                  }),
            },
            progress(`archive p${n}`, base),
            byteBound(p, `p${n}.tar.zst`),
          ),
        );
        p.entry.snapshotFile = await timed(req.timings, `snar:p${n}`, () => storeSnapshot(n, snar));
      } else if (p.entry.action === 'raw') {
        req.logger.info({ partition: n, reason: p.entry.reason }, 'keeping partition as raw image');
        p.entry.archive = await timed(req.timings, `archive:p${n}`, () =>
          write(
            `p${n}.raw.zst`,
            { kind: 'device', device: p.device, sizeBytes: p.entry.sizeBytes },
            progress(`raw p${n}`, base),
          ),
        );
      }
      done = base + p.expectedBytes;
      req.onProgress?.({ phase: `done p${n}`, bytesDone: done, bytesTotal: total });
    }

    return archivedVolume({
      deviceInfo: dev,
      chain,
      partitionTable: { label, sfdiskDump: dump },
      head,
      partitions: planned.map((p) => p.entry),
    });
  };

  // The time bound runs from here: everything is mounted and the bytes to read are known.
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
}
