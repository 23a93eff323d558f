/**
 * Versions of the programs that made a backup, recorded in its manifest.
 */
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { runCommand, type RunOptions } from '../exec/run-command.js';

async function firstLine(program: string, args: string[], run: RunOptions): Promise<string> {
  try {
    const r = await runCommand(program, args, { ...run, timeoutMs: 15_000 });
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function serviceVersion(): Promise<string> {
  // Walk up from this module to the package root (src/engine or dist/engine).
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'cinder-lvm-backup' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/**
 * tar, zstd, kernel, node and service versions; lvm's too when `withLvm`, guestfish's with
 * isolation `appliance` (whose appliance is built from this node's packages: its tar is
 * the node's).
 */
export async function toolVersions(
  withLvm: boolean,
  run: RunOptions = {},
  isolation: 'host' | 'appliance' = 'host',
): Promise<Record<string, string>> {
  const [tar, zstd, lvm, guestfish, service] = await Promise.all([
    firstLine('tar', ['--version'], run),
    firstLine('zstd', ['--version'], run),
    withLvm ? firstLine('lvm', ['version'], run) : Promise.resolve(null),
    isolation === 'appliance' ? firstLine('guestfish', ['--version'], run) : Promise.resolve(null),
    serviceVersion(),
  ]);
  return {
    tar,
    zstd,
    ...(lvm !== null ? { lvm } : {}),
    ...(guestfish !== null ? { guestfish } : {}),
    kernel: release(),
    node: process.version,
    'cinder-lvm-backup': service,
  };
}
