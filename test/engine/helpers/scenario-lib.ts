/**
 * What the host tests of the engine read their results with, independent of the engine's
 * own code: the guest scenarios' shell functions (test/storage-node/scenarios/lib.sh: trees
 * made and described with find, sha256sum, getfattr, getfacl), the member names of a stored
 * archive (zstd and tar), and the kernel's read counter of a device.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { execa } from 'execa';

const LIB = resolve(import.meta.dirname, '..', '..', 'storage-node', 'scenarios', 'lib.sh');

/** Runs the shell function `fn` of lib.sh with `args`; its standard output. */
export async function lib(fn: string, ...args: string[]): Promise<string> {
  const r = await execa('bash', ['-c', `set -euo pipefail; . "$0"; "$@"`, LIB, fn, ...args]);
  return r.stdout;
}

/** Member names of a stored tar archive (zstd -dc | tar -t). */
export async function members(file: string): Promise<string[]> {
  const r = await execa('bash', ['-c', 'zstd -dc -- "$0" | tar -t --file=-', file]);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** Sectors the kernel read from a whole disk (its partitions included), in bytes. */
export function bytesReadFrom(dev: string): number {
  const fields = readFileSync(`/sys/block/${basename(dev)}/stat`, 'utf8')
    .trim()
    .split(/\s+/);
  return Number(fields[2]) * 512;
}
