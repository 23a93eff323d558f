/**
 * Argument arrays for the programs restore runs. Pure, so tests read exactly what will run.
 */
import { TAR_METADATA_OPTIONS } from './args/archive-args.js';

/**
 * `tar` extracting an archive read from stdin into `directory`, restoring owners (numeric),
 * modes, xattrs (every namespace: XFS keeps ACLs also as trusted.SGI_ACL_* attributes) and
 * ACLs. Holes come back by themselves: the archive was made with `--sparse`.
 */
export function tarExtractArgs(directory: string): string[] {
  return [
    '--extract',
    '--file=-',
    ...TAR_METADATA_OPTIONS,
    '--same-permissions',
    '--same-owner',
    `--directory=${directory}`,
  ];
}

/** zstd decompressing stdin to stdout. */
export function zstdDecompressStdinArgs(): string[] {
  return ['-d', '-q', '-c'];
}

/**
 * `sfdisk` writing the table given on stdin to `device`. The kernel is told nothing: for a
 * dm device re-reading fails anyway (kpartx maps the partitions), for other devices
 * `partx --update` does it afterwards.
 */
export function sfdiskWriteArgs(device: string): string[] {
  return ['--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'always', device];
}

/** `sfdisk --dump DEV`: the table written, to check it. */
export function sfdiskDumpArgs(device: string): string[] {
  return ['--dump', device];
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
