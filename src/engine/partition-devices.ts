/**
 * Device nodes for the partitions of a device, matched to the table by start sector:
 * - device-mapper devices (LVs, snapshots): kpartx maps, names predicted with `kpartx -l`,
 *   created with `kpartx -avs`, removed with `kpartx -d`;
 * - other devices (loop, virtio): the kernel's own partitions (/dev/loopNpM), read from
 *   sysfs; a partition the kernel did not scan is added with `partx -a --nr N` and removed
 *   again afterwards.
 * Every map or partition made here is registered on the cleanup stack.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import type { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { kpartxAddArgs, kpartxDeleteArgs, kpartxListArgs } from './args/device-args.js';
import type { BlockDeviceInfo } from './block-device.js';
import { mappingForStart, parseKpartxList } from './parse/kpartx.js';
import type { TablePartition } from './parse/sfdisk.js';
import { withBusyRetries } from './retry.js';

export interface PartitionDevice {
  partition: TablePartition;
  device: string;
}

/** Maps every partition of `table` to a device node, registering undo steps. */
export async function partitionDevices(
  dev: BlockDeviceInfo,
  partitions: readonly TablePartition[],
  stack: CleanupStack,
  run: RunOptions = {},
): Promise<PartitionDevice[]> {
  if (partitions.length === 0) return [];
  // Undo steps run after a cancel too: they must not carry the (aborted) signal.
  const undoRun: RunOptions = run.logger ? { logger: run.logger } : {};
  return dev.deviceMapper
    ? kpartxPartitions(dev, partitions, stack, run, undoRun)
    : kernelPartitions(dev, partitions, stack, run, undoRun);
}

async function kpartxPartitions(
  dev: BlockDeviceInfo,
  partitions: readonly TablePartition[],
  stack: CleanupStack,
  run: RunOptions,
  undoRun: RunOptions,
): Promise<PartitionDevice[]> {
  const fail = (message: string, cause?: unknown): AppError =>
    new AppError('PARTITION_FAILED', message, cause === undefined ? {} : { cause });
  let predicted;
  try {
    predicted = parseKpartxList((await runCommand('kpartx', kpartxListArgs(dev.path), run)).stdout);
  } catch (err) {
    throw fail(`kpartx -l ${dev.path} failed`, err);
  }
  const out: PartitionDevice[] = [];
  for (const partition of partitions) {
    const m = mappingForStart(predicted, partition.startSector);
    if (!m) {
      throw fail(
        `kpartx predicts no map starting at sector ${partition.startSector} of ${dev.path}`,
      );
    }
    out.push({ partition, device: `/dev/mapper/${m.name}` });
  }
  // Registered before the add: a half-made set of maps is removed too.
  stack.push(`kpartx -d ${dev.path}`, () =>
    withBusyRetries(async () => {
      await runCommand('kpartx', kpartxDeleteArgs(dev.path), undoRun);
    }),
  );
  try {
    await runCommand('kpartx', kpartxAddArgs(dev.path), run);
  } catch (err) {
    throw fail(`kpartx -avs ${dev.path} failed`, err);
  }
  return out;
}

interface SysPartition {
  name: string;
  number: number;
  start: number;
}

async function sysfsPartitions(dev: BlockDeviceInfo): Promise<SysPartition[]> {
  const sysDir = await realpath(`/sys/dev/block/${dev.major}:${dev.minor}`);
  const found: SysPartition[] = [];
  for (const entry of await readdir(sysDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const number = await readFile(join(sysDir, entry.name, 'partition'), 'utf8').catch(() => null);
    if (number === null) continue;
    const start = await readFile(join(sysDir, entry.name, 'start'), 'utf8');
    found.push({ name: entry.name, number: Number(number.trim()), start: Number(start.trim()) });
  }
  return found;
}

async function kernelPartitions(
  dev: BlockDeviceInfo,
  partitions: readonly TablePartition[],
  stack: CleanupStack,
  run: RunOptions,
  undoRun: RunOptions,
): Promise<PartitionDevice[]> {
  let known = await sysfsPartitions(dev);
  const missing = partitions.filter((p) => !known.some((k) => k.start === p.startSector));
  for (const p of missing) {
    // Some kernels (this build machine's among them) do not parse partition tables of loop
    // devices; BLKPG through partx adds the partition all the same.
    stack.push(`partx -d --nr ${p.number} ${dev.realPath}`, async () => {
      await runCommand('partx', ['-d', '--nr', String(p.number), dev.realPath], undoRun);
    });
    try {
      await runCommand('partx', ['-a', '--nr', String(p.number), dev.realPath], run);
    } catch (err) {
      throw new AppError('PARTITION_FAILED', `cannot add partition ${p.number} of ${dev.path}`, {
        cause: err,
      });
    }
  }
  if (missing.length > 0) known = await sysfsPartitions(dev);
  return partitions.map((partition) => {
    const k = known.find((s) => s.start === partition.startSector);
    if (!k) {
      throw new AppError(
        'PARTITION_FAILED',
        `the kernel has no partition of ${dev.path} starting at sector ${partition.startSector}`,
      );
    }
    return { partition, device: `/dev/${k.name}` };
  });
}
