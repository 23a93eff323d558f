/**
 * Argument arrays for the archive pipeline and its reverse: GNU tar (create, list,
 * extract) and zstd (compress, decompress, test).
 */

/** The tar options that carry metadata; restore extracts with the matching set. */
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
 * `tar` extracting an archive read from stdin into `directory`, restoring owners (numeric),
 * modes, xattrs (every namespace: XFS keeps ACLs also as trusted.SGI_ACL_* attributes) and
 * ACLs. Holes come back by themselves: the archive was made with `--sparse`. `--totals`:
 * the bytes tar read, checked against the manifest (the stream never passes through Node).
 *
 * `incremental` for the levels of a chain: tar then also applies each directory's listing
 * (files deleted or renamed away since the level below are removed).
 */
export function tarExtractArgs(directory: string, incremental = false): string[] {
  return [
    '--extract',
    '--file=-',
    ...TAR_METADATA_OPTIONS,
    ...(incremental ? ['--listed-incremental=/dev/null'] : []),
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
