/**
 * Argument arrays for the archive pipeline: GNU tar (create, list) and zstd.
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
 */
export function tarCreateArgs(
  mountpoint: string,
  excludes: readonly string[],
  output: string,
): string[] {
  return [
    '--create',
    `--file=${output}`,
    ...TAR_METADATA_OPTIONS,
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
