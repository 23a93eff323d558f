/**
 * Keeps a btrfs twin out of a backup. Volumes made from one image share the filesystem's
 * fsid, and the kernel assembles a btrfs from every device registered with that fsid, or
 * hands back an already mounted filesystem of the same fsid instead of reading ours. So
 * before a mount: the filesystem must live on this partition alone (superblock), no btrfs
 * of that fsid may be mounted on the node (/sys/fs/btrfs/<fsid>), and the registrations of
 * the node's devices that carry that fsid are dropped (`btrfs device scan --forget DEV...`),
 * so the mount, which names our partition with `device=`, registers it alone. After the
 * mount the kernel's own list of the filesystem's devices must be exactly our partition.
 * Whatever fails these checks is stored raw, with the reason in the manifest. After the
 * unmount our partition's registration is dropped too, before its device goes away.
 *
 * Only devices of our fsid are forgotten: `--forget` without a device drops every
 * unmounted btrfs the node has registered, which an operator's multi-device btrfs waiting
 * to be mounted (assembled by a scan) would then not find.
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
const SYSFS_BLOCK = '/sys/class/block';

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

/**
 * The node's block devices (`/dev/NAME` for each entry of /sys/class/block) whose btrfs
 * superblock names `fsid`: the devices the kernel may have registered under it. Read with
 * our own parser; a device that cannot be read (an unbound loop, a dead path) is skipped.
 */
async function devicesWithFsid(fsid: string): Promise<string[]> {
  const names = await readdir(SYSFS_BLOCK).catch(() => [] as string[]);
  const found: string[] = [];
  for (const name of names.sort()) {
    // A suspended device-mapper device (LVM suspends an origin while it makes a snapshot)
    // holds every read until it resumes; the kernel cannot have scanned it meanwhile either.
    if (await dmSuspended(name)) continue;
    const device = join('/dev', name);
    const sb = await readSuper(device).catch(() => null);
    if (sb?.fsid === fsid) found.push(device);
  }
  return found;
}

/** True when /sys/class/block/NAME is a device-mapper device that is suspended now. */
async function dmSuspended(name: string): Promise<boolean> {
  const flag = await readFile(join(SYSFS_BLOCK, name, 'dm', 'suspended'), 'utf8').catch(() => '0');
  return flag.trim() === '1';
}

/**
 * Drops the kernel's btrfs registrations of `devices` (kernel 5.1+). A device the kernel
 * does not hold is not an error (some kernels answer ENOENT, exit 1); should a twin's
 * registration survive anyway, btrfsAfterMount sees it among the members and keeps raw.
 */
export async function btrfsForget(devices: readonly string[], run: RunOptions): Promise<void> {
  if (devices.length === 0) return;
  await runCommand('btrfs', ['device', 'scan', '--forget', ...devices], {
    ...run,
    okExitCodes: [0, 1],
  });
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
  // Forget the devices of our fsid (ours included): a twin scanned earlier (by udev or an
  // admin) can no longer be added to ours. Our fsid is not mounted (above), so none is busy.
  await btrfsForget(await devicesWithFsid(sb.fsid), run);
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
