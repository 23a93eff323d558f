/**
 * The block device a backup is restored to: what it is (device-mapper or not), how large,
 * whether anything holds it, and where its partitions appear once a table is written.
 * Reads sysfs rather than running tools; the pure helpers are exported for tests.
 */
import { constants } from 'node:fs';
import { open, readdir, readFile, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.js';

export interface TargetDevice {
  /** The path as given. */
  path: string;
  /** Where the path leads (e.g. /dev/mapper/vg-lv for /dev/vg/lv without udev). */
  realPath: string;
  /** `major:minor`. */
  devNumber: string;
  sizeBytes: number;
  /** The device-mapper name when the target is a dm device (then kpartx maps partitions). */
  dmName: string | null;
}

/** Splits a Linux dev_t (as stat's bigint rdev) into `major:minor`. */
export function devNumberOf(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

function sysfsDir(devNumber: string): string {
  return join('/sys/dev/block', devNumber);
}

async function readTrimmed(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return null;
  }
}

/**
 * Looks a target up. Throws DEVICE_NOT_FOUND when the path is missing or not a block
 * device.
 */
export async function inspectTarget(path: string): Promise<TargetDevice> {
  let realPath: string;
  let rdev: bigint;
  try {
    realPath = await realpath(path);
    const st = await stat(realPath, { bigint: true });
    if (!st.isBlockDevice()) {
      throw new AppError('DEVICE_NOT_FOUND', `restore target ${path} is not a block device`);
    }
    rdev = st.rdev;
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('DEVICE_NOT_FOUND', `restore target ${path} does not exist`, { cause: err });
  }
  const devNumber = devNumberOf(rdev);
  const sectors = await readTrimmed(join(sysfsDir(devNumber), 'size'));
  if (sectors === null || !/^\d+$/.test(sectors)) {
    throw new AppError('DEVICE_NOT_FOUND', `no size for ${path} (${devNumber}) in sysfs`);
  }
  return {
    path,
    realPath,
    devNumber,
    sizeBytes: Number(sectors) * 512,
    dmName: await readTrimmed(join(sysfsDir(devNumber), 'dm', 'name')),
  };
}

/**
 * Claims the target exclusively (O_EXCL on a block device: the kernel refuses it with EBUSY
 * while the device or a partition of it is mounted, used as swap or claimed by another
 * exclusive opener, and refuses such claims while we hold it). The caller keeps the handle
 * open through the wipe, so the device cannot be mounted between the check and the write;
 * after the wipe nothing mountable is left, and mkfs claims it the same way. Throws
 * TARGET_IN_USE when something holds it.
 */
export async function holdExclusive(target: TargetDevice): Promise<FileHandle> {
  const holders = await readdir(join(sysfsDir(target.devNumber), 'holders')).catch(() => []);
  if (holders.length > 0) {
    throw new AppError(
      'TARGET_IN_USE',
      `${target.path} cannot be overwritten: it is held by ${holders.join(', ')} (device-mapper maps, LVM)`,
    );
  }
  try {
    return await open(target.realPath, constants.O_RDONLY | constants.O_EXCL);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY') {
      throw new AppError(
        'TARGET_IN_USE',
        `${target.path} cannot be overwritten: it or one of its partitions is in use (mounted, swap)`,
        { cause: err },
      );
    }
    throw new AppError('DEVICE_NOT_FOUND', `cannot open ${target.path}: ${String(err)}`, {
      cause: err,
    });
  }
}

export interface KernelPartition {
  number: number;
  startSector: number;
  sizeBytes: number;
  device: string;
}

/** The kernel's partitions of a (non-dm) device, from sysfs, with their /dev nodes. */
export async function kernelPartitions(target: TargetDevice): Promise<KernelPartition[]> {
  const dir = sysfsDir(target.devNumber);
  const out: KernelPartition[] = [];
  for (const entry of await readdir(dir)) {
    const number = await readTrimmed(join(dir, entry, 'partition'));
    if (number === null) continue;
    const start = await readTrimmed(join(dir, entry, 'start'));
    const size = await readTrimmed(join(dir, entry, 'size'));
    out.push({
      number: Number(number),
      startSector: Number(start),
      sizeBytes: Number(size) * 512,
      device: join('/dev', entry),
    });
  }
  return out.sort((a, b) => a.number - b.number);
}

/** Waits (briefly) for a device node to appear; devtmpfs adds them asynchronously. */
export async function waitForDevice(device: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await stat(device)).isBlockDevice()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) {
      throw new AppError('PARTITION_FAILED', `device ${device} did not appear`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}
