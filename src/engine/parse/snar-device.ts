/**
 * The device numbers in GNU tar's listed-incremental snapshot file, format 2 (GNU tar
 * manual, "Format of the Incremental Snapshot Files"): after the header, one record per
 * directory, each field ended by a NUL: nfs flag, mtime seconds, mtime nanoseconds, device,
 * inode, name, then the dumpdir's entries (a control letter and a name each), an empty
 * entry, and one more NUL.
 *
 * tar recognises a renamed directory by its (device, inode) pair: a directory whose name is
 * not in the file is looked up by the pair, and if found its files are not archived again.
 * Every backup mounts a new snapshot, whose device number need not be the last one's
 * (`--no-check-device` only stops tar from taking a known name on another device for a new
 * directory; the lookup by pair still compares devices). Measured with tar 1.34 on ext4,
 * the same image through two loop devices, a directory of 20 MiB renamed: 20 MiB archived
 * again; with the old file's devices set to the new mount's: 4 MiB (the files of its
 * subdirectory, which tar 1.34 archives again even for a rename it recognised).
 *
 * Setting the devices is sound only where inode numbers are the filesystem's own, kept on
 * disk and so the same in every snapshot of it (ext2/3/4, xfs, btrfs): tar then sees what it
 * sees when it reads one device twice. vfat makes inode numbers up at each mount; a pair
 * matched there would pair unrelated directories, so its records get device 0, which no
 * mounted filesystem has, and nothing is paired (a directory whose inode changed is
 * archived whole, as before).
 */
import { AppError } from '../../errors.js';
import { snarRecordsOffset } from './snar-header.js';

/** Filesystem types whose inode numbers are stored on disk (stable across snapshots). */
export const STABLE_INODE_TYPES = ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs'] as const;

/** No mounted filesystem has device 0 (0:0): records carrying it never match a directory. */
export const NO_DEVICE = '0';

/**
 * The device number to give a parent's records before tar reads them: the mount's own
 * (`st_dev`, decimal) for a filesystem with stable inode numbers, else NO_DEVICE.
 */
export function snarDeviceFor(fsType: string | null, mountDevice: string): string {
  return fsType !== null && (STABLE_INODE_TYPES as readonly string[]).includes(fsType)
    ? mountDevice
    : NO_DEVICE;
}

function bad(why: string): AppError {
  return new AppError('ARCHIVE_FAILED', `tar snapshot file: ${why}`);
}

const NUMBER = /^-?[0-9]{1,20}$/;

/**
 * A copy of `data` in which every directory record's device number is `device` (decimal);
 * everything else byte for byte as it was. Throws ARCHIVE_FAILED on a file that is not a
 * well-formed format-2 snapshot file.
 */
export function withSnarDevice(data: Buffer, device: string): Buffer {
  if (!/^[0-9]{1,20}$/.test(device)) throw bad(`device number ${JSON.stringify(device)}`);
  const dev = Buffer.from(device, 'latin1');
  const start = snarRecordsOffset(data);
  const parts: Buffer[] = [data.subarray(0, start)];
  let pos = start;
  /** The next NUL-ended field from `pos` (its bounds, without the NUL); moves past it. */
  const field = (what: string): { start: number; end: number } => {
    const end = data.indexOf(0, pos);
    if (end < 0) throw bad(`record cut short in its ${what} at byte ${pos}`);
    const f = { start: pos, end };
    pos = end + 1;
    return f;
  };
  const number = (what: string): { start: number; end: number } => {
    const f = field(what);
    if (!NUMBER.test(data.toString('latin1', f.start, f.end))) {
      throw bad(`${what} is not a number at byte ${f.start}`);
    }
    return f;
  };
  while (pos < data.length) {
    const recordStart = pos;
    number('nfs flag');
    number('mtime');
    number('mtime nanoseconds');
    const devField = number('device');
    number('inode');
    const name = field('name');
    if (name.end === name.start) throw bad(`empty directory name at byte ${name.start}`);
    // The dumpdir: entries until an empty one, then the record's own terminating NUL.
    for (let e = field('dumpdir'); e.end > e.start; e = field('dumpdir'));
    if (data[pos] !== 0) throw bad(`missing record terminator at byte ${pos}`);
    pos += 1;
    parts.push(data.subarray(recordStart, devField.start), dev, data.subarray(devField.end, pos));
  }
  return Buffer.concat(parts);
}
