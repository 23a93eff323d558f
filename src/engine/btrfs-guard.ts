/**
 * Keeps a btrfs twin out of a backup. Volumes made from one image share the filesystem's
 * fsid, and the kernel assembles a btrfs from every device registered with that fsid, or
 * hands back an already mounted filesystem of the same fsid instead of reading ours. So
 * before a mount: the filesystem must live on this partition alone (superblock), no btrfs
 * of that fsid may be mounted on the node (/sys/fs/btrfs/<fsid>), and the registrations of
 * unmounted devices are dropped (`btrfs device scan --forget`), so the mount, which names
 * our partition with `device=`, registers it alone. After the mount the kernel's own list
 * of the filesystem's devices must be exactly our partition. Whatever fails these checks
 * is stored raw, with the reason in the manifest.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { majorOf, minorOf } from './block-device.js';
import {
  BTRFS_SUPER_OFFSET,
  BTRFS_SUPER_READ,
  btrfsSuperRefusal,
  parseBtrfsSuper,
  type BtrfsSuper,
} from './parse/btrfs-super.js';

const SYSFS_BTRFS = '/sys/fs/btrfs';

async function readSuper(device: string): Promise<BtrfsSuper | null> {
  const handle = await open(device, 'r');
  try {
    const buf = Buffer.alloc(BTRFS_SUPER_READ);
    const { bytesRead } = await handle.read(buf, 0, buf.length, BTRFS_SUPER_OFFSET);
    return parseBtrfsSuper(buf.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** The outcome of the pre-mount check: the fsid to check afterwards, or why not to mount. */
export type BtrfsPreMount = { ok: true; fsid: string } | { ok: false; reason: string };

/** Checks before mounting `device`; drops stale registrations when it is safe to go on. */
export async function btrfsBeforeMount(device: string, run: RunOptions): Promise<BtrfsPreMount> {
  const sb = await readSuper(device);
  const refusal = btrfsSuperRefusal(sb);
  if (refusal !== null || sb === null) return { ok: false, reason: refusal ?? 'btrfs' };
  const mounted = await stat(join(SYSFS_BTRFS, sb.fsid)).then(
    () => true,
    () => false,
  );
  if (mounted) {
    return {
      ok: false,
      reason: `btrfs ${sb.fsid} is already mounted on this node (a twin of this volume); mounting would show that filesystem, not this one`,
    };
  }
  // Forget every device of unmounted btrfs filesystems (kernel 5.1+): a twin scanned
  // earlier (by udev or an admin) can no longer be added to ours.
  await runCommand('btrfs', ['device', 'scan', '--forget'], run);
  return { ok: true, fsid: sb.fsid };
}

/** `major:minor` of a block device, as sysfs writes it in a device's `dev` file. */
async function deviceNumber(device: string): Promise<string> {
  const { rdev } = await stat(device);
  return `${majorOf(rdev)}:${minorOf(rdev)}`;
}

/**
 * After the mount: null when the kernel's members of `fsid` are exactly `device`. Compared
 * by device number, not by name: sysfs names a member by its kernel name (`dm-4`), while
 * `device` may be a /dev/mapper node that is not a symlink to it (no udev).
 */
export async function btrfsAfterMount(fsid: string, device: string): Promise<string | null> {
  const ours = await deviceNumber(device);
  const dir = join(SYSFS_BTRFS, fsid, 'devices');
  const members = await readdir(dir).catch(() => null);
  if (members === null) return `btrfs ${fsid}: the kernel lists no devices for it`;
  const numbers = await Promise.all(
    members.map((m) =>
      readFile(join(dir, m, 'dev'), 'utf8').then(
        (d) => d.trim(),
        () => '?',
      ),
    ),
  );
  if (numbers.length !== 1 || numbers[0] !== ours) {
    const listed = members.map((m, i) => `${m} (${numbers[i]})`).join(', ');
    return `btrfs ${fsid} was assembled from ${listed}, not from ${basename(device)} (${ours}) alone`;
  }
  return null;
}
