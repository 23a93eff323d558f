/**
 * Facts about a block device: that it is one, its size, whether device-mapper owns it (then
 * partitions come from kpartx; otherwise from the kernel, e.g. /dev/loopNpM), and its
 * first MiB.
 */
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { AppError } from '../errors.js';

export const HEAD_BYTES = 1024 * 1024;

/** Linux major number from a dev_t as Node reports it. */
export function majorOf(rdev: number): number {
  return Math.floor(rdev / 256) & 0xfff;
}

export function minorOf(rdev: number): number {
  return (rdev & 0xff) | (Math.floor(rdev / 2 ** 20) & 0xfff00);
}

export interface BlockDeviceInfo {
  /** The path as given. */
  path: string;
  /** Resolved path (symlinks followed). */
  realPath: string;
  major: number;
  minor: number;
  sizeBytes: number;
  deviceMapper: boolean;
  readOnly: boolean;
}

async function deviceMapperMajor(): Promise<number | null> {
  const text = await readFile('/proc/devices', 'utf8');
  const m = /^\s*(\d+)\s+device-mapper$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** Describes `path`, throwing DEVICE_NOT_FOUND when it is not a block device. */
export async function inspectBlockDevice(
  path: string,
  run: RunOptions = {},
): Promise<BlockDeviceInfo> {
  let realPath: string;
  let st;
  try {
    realPath = await realpath(path);
    st = await stat(realPath);
  } catch (err) {
    throw new AppError('DEVICE_NOT_FOUND', `${path} does not exist`, { cause: err });
  }
  if (!st.isBlockDevice()) {
    throw new AppError('DEVICE_NOT_FOUND', `${path} is not a block device`);
  }
  const major = majorOf(st.rdev);
  const minor = minorOf(st.rdev);
  const [figures, dmMajor] = await Promise.all([
    sysfsFigures(major, minor).then((f) => f ?? blockdevFigures(realPath, run)),
    deviceMapperMajor(),
  ]);
  return { path, realPath, major, minor, ...figures, deviceMapper: major === dmMajor };
}

/**
 * Size and read-only flag from the kernel's sysfs entry of the device (`size` counts 512-byte
 * sectors whatever the logical block size): what `blockdev --getsize64 / --getro` ask the
 * kernel, without two processes. Null when sysfs is not there (then blockdev is asked).
 */
async function sysfsFigures(
  major: number,
  minor: number,
): Promise<{ sizeBytes: number; readOnly: boolean } | null> {
  const dir = `/sys/dev/block/${major}:${minor}`;
  try {
    const [size, ro] = await Promise.all([
      readFile(`${dir}/size`, 'utf8'),
      readFile(`${dir}/ro`, 'utf8'),
    ]);
    const sectors = Number(size.trim());
    if (!Number.isSafeInteger(sectors) || sectors < 0) return null;
    return { sizeBytes: sectors * 512, readOnly: ro.trim() === '1' };
  } catch {
    return null;
  }
}

async function blockdevFigures(
  realPath: string,
  run: RunOptions,
): Promise<{ sizeBytes: number; readOnly: boolean }> {
  const size = await runCommand('blockdev', ['--getsize64', realPath], run);
  const ro = await runCommand('blockdev', ['--getro', realPath], run);
  return { sizeBytes: Number(size.stdout.trim()), readOnly: ro.stdout.trim() === '1' };
}

/** Reads the first MiB (or less, for a smaller device). */
export async function readHead(path: string, sizeBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(HEAD_BYTES, sizeBytes));
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await handle.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await handle.close();
  }
}
