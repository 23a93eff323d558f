/**
 * Argument arrays for the archive pipeline and its reverse: GNU tar (create, list,
 * extract) and zstd (compress, decompress, test).
 */

/**
 * The tar options that carry metadata; restore extracts with the matching set (ACLs through
 * their xattr records, see tarExtractArgs).
 */
export const TAR_METADATA_OPTIONS = [
  '--format=posix',
  '--xattrs',
  '--xattrs-include=*',
  '--acls',
  '--numeric-owner',
] as const;

/**
 * `tar` archiving the filesystem mounted at `mountpoint` into `output` (a FIFO that zstd
 * reads: the bytes then go from tar to zstd through the kernel, not through Node). Member
 * names are `./…` (what exclude patterns match); `--totals` reports the stream's size on
 * stderr; the run-directory paths in the arguments let the reaper tell our tar processes
 * from anyone else's.
 *
 * With `snapshotFile`, tar reads and updates that listed-incremental snapshot file: a
 * missing file makes a full (level-0) dump, an existing one dumps only what changed since.
 * `--no-check-device`: every backup mounts a new snapshot whose device number differs, and
 * tar would otherwise take the directories for new ones and dump their files again
 * (measured on a small ext4 tree remounted through another loop device, 3 files changed:
 * 310 KiB of tar stream without it, 120 KiB with it).
 */
export function tarCreateArgs(
  mountpoint: string,
  excludes: readonly string[],
  output: string,
  snapshotFile?: string,
): string[] {
  return [
    '--create',
    `--file=${output}`,
    ...TAR_METADATA_OPTIONS,
    ...(snapshotFile === undefined
      ? []
      : [`--listed-incremental=${snapshotFile}`, '--no-check-device']),
    '--sparse',
    '--one-file-system',
    '--totals',
    '--exclude=./lost+found',
    ...excludes.map((e) => `--exclude=${e}`),
    `--directory=${mountpoint}`,
    '.',
  ];
}

/** `tar` listing an archive read from stdin (used by verify to prove readability). */
export function tarListArgs(): string[] {
  return ['--list', '--file=-', ...TAR_METADATA_OPTIONS];
}

/**
 * zstd compressing stdin (or `input`) to stdout. `-f` because zstd otherwise refuses a block
 * device as input ("not a regular file").
 */
export function zstdCompressArgs(opts: {
  level: number;
  threads: number;
  input?: string;
}): string[] {
  return [
    `-${opts.level}`,
    `-T${opts.threads}`,
    '-q',
    '-c',
    ...(opts.input !== undefined ? ['-f', '--', opts.input] : []),
  ];
}

/** zstd decompressing `file` to stdout. */
export function zstdDecompressArgs(file: string): string[] {
  return ['-d', '-q', '-c', '--', file];
}

/** zstd checking `file`'s integrity (frame checksums) without writing output. */
export function zstdTestArgs(file: string): string[] {
  return ['-t', '-q', '--', file];
}

/**
 * The record size tar extracts with: 1 MiB read from zstd's pipe (`--read-full-records`
 * keeps reading until a record is full, as a pipe gives at most what is in it), and file
 * data written in pieces of up to that size, instead of the 10 KiB default's. tar's CPU
 * restoring the benchmark archive (`restore --manifest`, tar's own CPU, 4 interleaved
 * pairs, load 9-11 on 2 cores): 3.45-4.58 s (median 4.2) with 10 KiB records, 2.54-3.32 s
 * (median 2.9) with 1 MiB.
 */
export const TAR_EXTRACT_RECORD_BYTES = 1024 * 1024;

/**
 * What `--totals` reports tar read of a `streamBytes` stream with TAR_EXTRACT_RECORD_BYTES
 * records: it counts the last, partly filled record whole (measured: 10,240 → 1,048,576;
 * 3,010,560 → 3,145,728; 1,541,324,800 → 1,541,406,720).
 */
export function tarExtractReadBytes(streamBytes: number): number {
  return Math.ceil(streamBytes / TAR_EXTRACT_RECORD_BYTES) * TAR_EXTRACT_RECORD_BYTES;
}

/**
 * `tar` extracting an archive read from stdin into `directory`, restoring owners (numeric),
 * modes and xattrs of every namespace. Holes come back by themselves: the archive was made
 * with `--sparse`. `--totals`: the bytes tar read, checked against the manifest (the stream
 * never passes through Node; see tarExtractReadBytes). Records of TAR_EXTRACT_RECORD_BYTES.
 *
 * ACLs come back as the xattrs they are (`system.posix_acl_access`/`_default`; XFS also
 * keeps them as `trusted.SGI_ACL_*`): tarCreateArgs stores every xattr, those included, and
 * tar sets them on the files that had them. `--acls` would also set a mode-derived ACL on
 * every other file and clear the default ACL of every other directory: two more syscalls per
 * entry (58,263 setxattr and 4,000 removexattr for the benchmark tree, 62,970 inodes), which
 * matter only where a directory already holds a default ACL that new files would inherit
 * without having had it: `ontoExisting`, for the levels of a chain after the first. On a
 * filesystem just made, tar sets each directory's xattrs after its contents, so nothing
 * inherits (checked with getfacl: directories, the root included, with default ACLs over
 * files and directories cleared of theirs, archived in our listed-incremental order).
 *
 * `incremental` for the levels of a chain: tar then also applies each directory's listing
 * (files deleted or renamed away since the level below are removed).
 */
export function tarExtractArgs(
  directory: string,
  opts: { incremental?: boolean; ontoExisting?: boolean } = {},
): string[] {
  return [
    '--extract',
    '--file=-',
    `--blocking-factor=${TAR_EXTRACT_RECORD_BYTES / 512}`,
    '--read-full-records',
    ...TAR_METADATA_OPTIONS.filter((o) => o !== '--acls' || opts.ontoExisting === true),
    ...(opts.incremental === true ? ['--listed-incremental=/dev/null'] : []),
    '--same-permissions',
    '--same-owner',
    '--totals',
    `--directory=${directory}`,
  ];
}

/** zstd decompressing stdin to stdout. */
export function zstdDecompressStdinArgs(): string[] {
  return ['-d', '-q', '-c'];
}
