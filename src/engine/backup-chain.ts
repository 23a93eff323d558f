/**
 * Chains on a destination: reading the backups an incremental one stands on (each parent
 * is a sibling directory, `<dest>/<source>/<parentId>/`), and choosing the base of a new
 * backup: the one the caller names (the agent, from its catalog), the newest good backup
 * of the same source (by hand), or none (a full backup, with the reason recorded).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { isValidBackupId } from './backup-id.js';
import { chainProblem, sameSource, type SourceRef } from './chain-rules.js';
import { MANIFEST_FILE, type Manifest } from './manifest.js';
import { validateManifest } from './restore-manifest.js';

/** One backup of a chain: its manifest and directory. */
export interface ChainLink {
  manifest: Manifest;
  dir: string;
  manifestPath: string;
}

/** What level a new backup should have. */
export type LevelRequest =
  /** A full backup (a new chain), with the reason to record (`asked`, `--full`, policy). */
  | { kind: 'full'; reason: string }
  /** Incremental on the newest good backup of the same source under the destination. */
  | { kind: 'newest' }
  /** Incremental on this backup (the agent's choice from its catalog). */
  | { kind: 'on'; manifestPath: string };

/** The base a backup builds on: the chain's last link, or none and why. */
export type ChainBase =
  { parent: ChainLink[]; fullReason: null } | { parent: null; fullReason: string };

/** More levels than any policy makes: a loop in the parent links, or a hostile manifest. */
const MAX_CHAIN_LENGTH = 1000;

/** Reads and checks one manifest (MANIFEST_INVALID). */
export async function loadManifest(manifestPath: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new AppError('MANIFEST_INVALID', `cannot read ${manifestPath}: ${String(err)}`, {
      cause: err,
    });
  }
  try {
    return validateManifest(JSON.parse(text));
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('MANIFEST_INVALID', `${manifestPath} is not JSON`, { cause: err });
  }
}

/**
 * The chain ending with the backup at `manifestPath`, root (full backup) first. A backup
 * without chain record (made before chains) is a chain of one. Throws CHAIN_BROKEN when a
 * parent is missing or does not fit (see chainProblem), MANIFEST_INVALID for a bad file.
 */
export async function readChain(manifestPath: string): Promise<ChainLink[]> {
  const links: ChainLink[] = [];
  let path = manifestPath;
  for (;;) {
    const manifest = await loadManifest(path).catch((err: unknown) => {
      if (links.length === 0) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new AppError(
        'CHAIN_BROKEN',
        `backup ${(links[0] as ChainLink).manifest.backupId} needs ${path}: ${why}`,
        { cause: err },
      );
    });
    const dir = dirname(path);
    links.unshift({ manifest, dir, manifestPath: path });
    const parentId = manifest.chain?.parentId ?? null;
    if (parentId === null) break;
    if (!isValidBackupId(parentId)) {
      throw new AppError(
        'MANIFEST_INVALID',
        `${path} names parent ${JSON.stringify(parentId)}, not a backup id`,
      );
    }
    if (links.length >= MAX_CHAIN_LENGTH) {
      throw new AppError(
        'CHAIN_BROKEN',
        `chain of ${manifestPath} is longer than ${MAX_CHAIN_LENGTH}`,
      );
    }
    path = join(dirname(dir), parentId, MANIFEST_FILE);
  }
  const problem = chainProblem(links.map((l) => l.manifest));
  if (problem !== null) throw new AppError('CHAIN_BROKEN', problem);
  return links;
}

export interface BaseQuery {
  /** `<dest>/<source>`: where this backup's directory and its siblings are. */
  sourceDir: string;
  source: SourceRef;
  /** The new backup's excludes (normalized): a chain keeps one set. */
  excludes: readonly string[];
  logger: Logger;
}

/** Why `chain` cannot be the base of the backup `q` describes, or null. */
function baseProblem(chain: ChainLink[], q: BaseQuery): string | null {
  const last = chain[chain.length - 1] as ChainLink;
  const m = last.manifest;
  if (resolve(dirname(last.dir)) !== resolve(q.sourceDir)) {
    return `${last.dir} is not in ${q.sourceDir}`;
  }
  if (!sameSource(m.source, q.source)) return `backup ${m.backupId} is of another source`;
  if (m.chain === undefined) return `backup ${m.backupId} was made before chains`;
  if (JSON.stringify(m.excludes) !== JSON.stringify(q.excludes)) {
    return `the excludes changed since backup ${m.backupId}`;
  }
  const archived = m.partitions.filter((p) => p.action === 'archived');
  const missing = archived.find((p) => p.snapshotFile === undefined);
  if (missing !== undefined) {
    return `backup ${m.backupId} has no tar snapshot file for p${missing.number ?? 0}`;
  }
  return null;
}

/** Resolves a level request into the chain the new backup continues, or the reason it is full. */
export async function chooseBase(level: LevelRequest, q: BaseQuery): Promise<ChainBase> {
  if (level.kind === 'full') return { parent: null, fullReason: level.reason };
  if (level.kind === 'on') {
    try {
      const chain = await readChain(level.manifestPath);
      const problem = baseProblem(chain, q);
      return problem === null
        ? { parent: chain, fullReason: null }
        : { parent: null, fullReason: `parent not usable: ${problem}` };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { parent: null, fullReason: `parent not usable: ${why}` };
    }
  }
  const names = (await readdir(q.sourceDir).catch(() => [] as string[]))
    .filter((n) => isValidBackupId(n))
    .sort()
    .reverse();
  const skipped: string[] = [];
  for (const name of names) {
    const path = join(q.sourceDir, name, MANIFEST_FILE);
    try {
      const chain = await readChain(path);
      const problem = baseProblem(chain, q);
      if (problem === null) {
        if (skipped.length > 0) {
          q.logger.warn({ skipped }, 'newer backups are not usable as a base');
        }
        return { parent: chain, fullReason: null };
      }
      skipped.push(`${name}: ${problem}`);
    } catch (err) {
      skipped.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (names.length === 0) {
    return { parent: null, fullReason: `no earlier backup in ${q.sourceDir}` };
  }
  return {
    parent: null,
    fullReason: `no usable earlier backup in ${q.sourceDir} (newest ${skipped[0] ?? ''})`,
  };
}
