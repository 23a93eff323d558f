/**
 * Argument arrays for the block-device tools: partition tables (sfdisk read and write),
 * partition maps (kpartx for dm devices, partx for the kernel's own), signatures (blkid
 * probe, wipefs), dm open counts.
 */

/** `blkid -p -o export DEV`: probe the device itself, not blkid's cache. */
export function blkidProbeArgs(device: string): string[] {
  return ['-p', '-o', 'export', '--', device];
}

/** `sfdisk --json DEV`: the partition table as JSON, for parsing. */
export function sfdiskJsonArgs(device: string): string[] {
  return ['--json', '--', device];
}

/** `sfdisk --dump DEV`: the table as a script sfdisk can write back (kept in the manifest). */
export function sfdiskDumpArgs(device: string): string[] {
  return ['--dump', '--', device];
}

/**
 * `sfdisk` writing the table given on stdin to `device`. The kernel is told nothing: for a
 * dm device re-reading fails anyway (kpartx maps the partitions), for other devices
 * `partx --update` does it afterwards.
 */
export function sfdiskWriteArgs(device: string): string[] {
  return ['--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'always', device];
}

/**
 * `wipefs --all --force DEV`: removes every signature the target still carries (an old
 * filesystem, an old GPT and its backup copy at the end) so nothing stale is found next to
 * the restore. `--force` only stops wipefs claiming the device exclusively itself: restore
 * holds that claim (holdExclusive) through the wipe, and wipefs would fail with EBUSY.
 */
export function wipefsArgs(device: string): string[] {
  return ['--all', '--quiet', '--force', device];
}

/** `dmsetup info` printing only the open count of the dm device `name`. */
export function dmsetupOpenCountArgs(name: string): string[] {
  return ['info', '-c', '--noheadings', '-o', 'open', '--', name];
}

/** `kpartx -l DEV`: predicted partition maps, nothing created. */
export function kpartxListArgs(device: string): string[] {
  return ['-l', device];
}

/** `kpartx -avs DEV`: create partition maps, synchronously. Not read-only: a ro mount replays the journal into the snapshot. */
export function kpartxAddArgs(device: string): string[] {
  return ['-a', '-v', '-s', device];
}

/** `kpartx -dv DEV`: remove the partition maps of DEV. */
export function kpartxDeleteArgs(device: string): string[] {
  return ['-d', '-v', device];
}

/**
 * `partx --delete DEV` then `partx --add DEV`: the kernel's partitions of a non-dm device
 * made to match the table just written. Not `--update`: partx 2.38 leaves stale entries
 * and misses partitions after a gap in the numbering (seen with 1, 3, 4).
 */
export function partxDeleteArgs(device: string): string[] {
  return ['--delete', device];
}

export function partxAddArgs(device: string): string[] {
  return ['--add', device];
}
