/**
 * Restore: a backup (its manifest and archives) written back to a block device at least as
 * large as the volume it came from. The partition table is recreated, each filesystem is
 * made again with its type, UUID and label and filled from its archive (owners, modes,
 * xattrs, ACLs, links, holes), raw images are written back, and the result is checked
 * against the manifest. Every mapping and mount is on a CleanupStack: a failure leaves
 * nothing mounted or mapped.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rmdir, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError, toAppError } from '../errors.js';
import { runCommand } from '../exec/run-command.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { silentLogger, type Logger } from '../log.js';
import { mountArgs, umountArgs } from './args/mount-args.js';
import type { ArchiveFile, Manifest, ManifestPartition } from './manifest.js';
import { parseBlkidExport } from './parse/blkid-export.js';
import { findLv } from './lvm.js';
import { lvKind } from './parse/lvs-report.js';
import {
  blkidProbeArgs,
  dmsetupOpenCountArgs,
  sfdiskDumpArgs,
  sfdiskWriteArgs,
  wipefsArgs,
} from './args/device-args.js';
import {
  checkFileCount,
  checkIdentity,
  checkTable,
  checkTargetPath,
  lvTargetProblem,
  partitionTag,
  type RestoreCheck,
} from './restore-checks.js';
import { validateManifest } from './restore-manifest.js';
import { readChain, type ChainLink } from './backup-chain.js';
import { extInodeCount, mkfsCommand, mkswapCommand, restoreMountOptions } from './restore-mkfs.js';
import { mapTargetPartitions } from './restore-partitions.js';
import { readArchive } from './restore-stream.js';
import { startWriteback } from './restore-writeback.js';
import { createRunDir, recordRunTarget, removeRunDir } from './run-dir.js';
import { dumpPartitionNumbers, rewriteDumpForTarget } from './restore-table.js';
import { holdExclusive, inspectTarget, type TargetDevice } from './restore-target.js';
import type { Progress } from './progress.js';
import { timed, type Timings } from './timings.js';
import { stepPoint } from '../lifecycle/step-pause.js';

export interface RestoreRequest {
  manifestPath: string;
  /** The block device to overwrite: `/dev/<vg>/volume-<uuid>` unless `force`. */
  target: string;
  /** The VGs the target may be in (the agent's); any VG when absent. */
  vgs?: readonly string[];
  /** Allow a target that is not a Cinder volume LV (an operator by hand: `--force`). */
  force?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (p: Progress) => void;
}

export interface RestoreResult {
  ok: boolean;
  checks: RestoreCheck[];
  /**
   * Milliseconds per step (wipe, table, mkfs:pN, extract:pN — extract:pN:lL per level of a
   * chain —, check:pN, raw:pN, total).
   */
  timings: Timings;
  /** The backups replayed, full backup first (one id for a full backup). */
  chain: string[];
}

/** The MBR's boot code: the bytes before the disk signature and the partition entries. */
const BOOT_CODE_BYTES = 440;
/** The saved head is the first MiB; more would be a malformed backup. */
const HEAD_MAX_BYTES = 1024 * 1024;

/** Reads and checks a manifest file. */
export async function readManifest(manifestPath: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new AppError('MANIFEST_INVALID', `cannot read ${manifestPath}: ${String(err)}`, {
      cause: err,
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AppError('MANIFEST_INVALID', `${manifestPath} is not JSON`, { cause: err });
  }
  return validateManifest(doc);
}

/** An archive of a backup of the chain, and that backup's directory. */
interface ChainArchive {
  dir: string;
  archive: ArchiveFile;
}

/**
 * The archives of partition `p` of the last backup to extract, in order: for a filesystem
 * of an incremental backup, the same partition's archive in each level from the full one
 * up; else the last backup's own archive.
 */
function partitionArchives(links: readonly ChainLink[], p: ManifestPartition): ChainArchive[] {
  const last = links[links.length - 1] as ChainLink;
  if (p.action !== 'archived' || links.length === 1) {
    return p.archive ? [{ dir: last.dir, archive: p.archive }] : [];
  }
  return links.map((l) => {
    const archive = l.manifest.partitions.find((x) => x.number === p.number)?.archive;
    if (archive === undefined) {
      throw new AppError(
        'CHAIN_BROKEN',
        `backup ${l.manifest.backupId} has no archive of ${partitionTag(p)}`,
      );
    }
    return { dir: l.dir, archive };
  });
}

/** Every archive the restore will read, in order. */
function archivesOf(links: readonly ChainLink[]): ChainArchive[] {
  const last = links[links.length - 1] as ChainLink;
  const manifest = last.manifest;
  const list: ChainArchive[] = [];
  if (manifest.partitionTable.label !== 'none' && manifest.head !== null) {
    list.push({ dir: last.dir, archive: manifest.head });
  }
  for (const p of manifest.partitions)
    if (p.action !== 'skipped' && p.archive) list.push(...partitionArchives(links, p));
  return list;
}

/** Fails before the target is touched when an archive is missing or has the wrong size. */
async function checkArchivesPresent(archives: ChainArchive[]): Promise<void> {
  for (const { dir, archive: a } of archives) {
    const path = join(dir, a.file);
    const size = await stat(path).then(
      (s) => s.size,
      () => null,
    );
    if (size === null) throw new AppError('ARCHIVE_UNREADABLE', `${path} is missing`);
    if (size !== a.bytes) {
      throw new AppError(
        'CHECKSUM_MISMATCH',
        `${path} has ${size} bytes, the manifest says ${a.bytes}`,
      );
    }
  }
}

/**
 * Inodes in use on a mounted filesystem: what the backup records as `fileCount` (statfs),
 * so the two compare like for like (hard links are one inode; lost+found and the root are
 * counted on both sides because mkfs makes them again).
 */
async function inodesInUse(mountpoint: string): Promise<number> {
  const s = await statfs(mountpoint);
  return Math.max(0, s.files - s.ffree);
}

async function writeAt(device: string, data: Buffer): Promise<void> {
  const handle = await open(device, 'r+');
  try {
    await handle.write(data, 0, data.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Restores a backup onto `req.target`. Throws AppError; resolves with the checks made. */
export async function restoreBackup(req: RestoreRequest): Promise<RestoreResult> {
  const logger = req.logger ?? silentLogger;
  const run = { logger, ...(req.signal ? { signal: req.signal } : {}) };
  const rule = checkTargetPath(req.target, {
    ...(req.vgs === undefined ? {} : { vgs: req.vgs }),
    ...(req.force === undefined ? {} : { force: req.force }),
  });
  const manifest = await readManifest(req.manifestPath);
  const backupDir = dirname(req.manifestPath);
  // An incremental backup is restored with its whole chain, full backup first.
  const links: ChainLink[] =
    (manifest.chain?.level ?? 0) > 0
      ? await readChain(req.manifestPath)
      : [{ manifest, dir: backupDir, manifestPath: req.manifestPath }];
  const archives = archivesOf(links);
  await checkArchivesPresent(archives);

  const target = await inspectTarget(req.target);
  if (target.sizeBytes < manifest.source.sizeBytes) {
    throw new AppError(
      'TARGET_TOO_SMALL',
      `${req.target} has ${target.sizeBytes} bytes, the backed-up volume had ${manifest.source.sizeBytes}`,
      { details: { targetBytes: target.sizeBytes, sourceBytes: manifest.source.sizeBytes } },
    );
  }
  if (rule.lv !== null) {
    const lv = await findLv(rule.lv.vg, rule.lv.lv, run);
    const problem = lvTargetProblem(lv === null ? null : { attr: lv.attr, kind: lvKind(lv.attr) });
    if (problem !== null) {
      throw new AppError(
        problem.includes('open') ? 'TARGET_IN_USE' : 'TARGET_REFUSED',
        `${req.target} cannot be overwritten: ${problem}`,
      );
    }
  }

  const bytesTotal = archives.reduce((sum, a) => sum + a.archive.bytes, 0);
  let bytesDone = 0;
  let phase = 'prepare';
  const progress = (bytes: number): void => {
    bytesDone += bytes;
    req.onProgress?.({ phase, bytesDone, bytesTotal });
  };
  const read = (
    archive: ArchiveFile,
    sink: Parameters<typeof readArchive>[0]['sink'],
    dir = backupDir,
  ) =>
    readArchive({
      path: join(dir, archive.file),
      archive,
      sink,
      onBytes: progress,
      ...(req.signal ? { signal: req.signal } : {}),
    });

  const stack = new CleanupStack();
  const checks: RestoreCheck[] = [];
  const timings: Timings = {};
  const step: Timer = (name, fn) => timed(timings, name, fn);
  const started = Date.now();
  // A run directory with an owner file like a backup's, so a `reap` beside a running
  // restore sees a live run and leaves its mounts alone.
  const runId = `restore-${randomBytes(4).toString('hex')}`;
  let runDir = '';
  let failure: unknown = null;
  try {
    logger.info(
      { target: req.target, backupId: manifest.backupId, chain: links.length },
      'restore starts',
    );
    // The in-use check holds until the wipe is done: claimed exclusively, nothing can mount
    // the old filesystem between the check and the write.
    // The run directory first, naming the target: a crash after the table was written
    // leaves the target's partition maps, which only the reaper can then remove.
    runDir = await createRunDir(runId);
    stack.push(`remove ${runDir}`, () => removeRunDir(runDir));
    if (target.dmName !== null) {
      await recordRunTarget(runDir, { realPath: target.realPath, dmName: target.dmName });
    }
    const hold = await holdExclusive(target);
    const release = stack.push(`release ${req.target}`, () => hold.close());
    await assertOnlyOpener(target, run);
    await step('wipe', () => runCommand('wipefs', wipefsArgs(target.realPath), run));
    await hold.close();
    release();

    let devices: Map<number | null, string>;
    if (manifest.partitionTable.label === 'none') {
      devices = new Map([[null, target.realPath]]);
    } else {
      devices = await step('table', () =>
        restoreTable(manifest, target, {
          stack,
          logger,
          checks,
          readHead: async (head) => {
            phase = 'restore head';
            return (await read(head, { kind: 'memory', maxBytes: HEAD_MAX_BYTES })).data as Buffer;
          },
          ...(req.signal ? { signal: req.signal } : {}),
        }),
      );
    }

    for (const p of manifest.partitions) {
      const tag = partitionTag(p);
      phase = `restore ${tag}`;
      const device = devices.get(p.number);
      if (p.action === 'skipped' && p.fsType === 'swap' && device !== undefined) {
        // Swap holds nothing worth keeping, but fstab may name it by UUID: make it again.
        const mkswap = mkswapCommand(device, p.uuid, p.label);
        await step(`mkswap:${tag}`, () => runCommand(mkswap.program, mkswap.args, run));
        const probe = parseBlkidExport(
          (await runCommand('blkid', blkidProbeArgs(device), run)).stdout,
        );
        checks.push(checkIdentity(p, probe));
        continue;
      }
      if (p.action === 'skipped') {
        checks.push({ name: `${tag} skipped`, ok: true, detail: p.reason ?? 'skipped at backup' });
        continue;
      }
      if (device === undefined) throw new AppError('INTERNAL', `no device for ${tag}`);
      const archive = p.archive as ArchiveFile;
      if (p.action === 'raw') {
        await step(`raw:${tag}`, () =>
          read(archive, { kind: 'device', device, maxBytes: p.sizeBytes }),
        );
        checks.push({
          name: `${tag} raw image`,
          ok: true,
          detail: `${archive.uncompressedBytes} bytes written`,
        });
        continue;
      }
      checks.push(
        ...(await restoreFilesystem(p, device, {
          archives: partitionArchives(links, p),
          mountpoint: join(runDir, tag),
          stack,
          run,
          read,
          timed: step,
          tag,
          hadExcludes: manifest.excludes.length > 0,
        })),
      );
    }
  } catch (err) {
    failure = err;
  } finally {
    const outcomes = await stack.unwind();
    const failed = outcomes.filter((o) => !o.ok);
    for (const o of failed)
      logger.error({ step: o.name, err: o.error }, 'restore cleanup step failed');
    if (failure === null && failed.length > 0) {
      failure = new AppError(
        'CLEANUP_FAILED',
        `restore cleanup failed: ${failed.map((o) => `${o.name}: ${String(o.error)}`).join('; ')}`,
      );
    }
  }
  if (failure !== null) throw toAppError(failure, 'RESTORE_FAILED');
  const ok = checks.every((c) => c.ok);
  timings['total'] = Date.now() - started;
  logger.info({ target: req.target, ok, timings }, 'restore finished');
  return { ok, checks, timings, chain: links.map((l) => l.manifest.backupId) };
}

/**
 * For a dm target (an LV), the kernel's open count must be ours alone: an iSCSI target or a
 * `dd` opens the device without claiming it, so O_EXCL would not see them.
 */
async function assertOnlyOpener(
  target: TargetDevice,
  run: { logger: Logger; signal?: AbortSignal },
): Promise<void> {
  if (target.dmName === null) return;
  const out = await runCommand('dmsetup', dmsetupOpenCountArgs(target.dmName), run);
  const count = Number(out.stdout.trim());
  if (!Number.isInteger(count) || count !== 1) {
    throw new AppError(
      'TARGET_IN_USE',
      `${target.path} cannot be overwritten: it is open ${out.stdout.trim()} time(s), the restore's hold included`,
    );
  }
}

interface TableOptions {
  stack: CleanupStack;
  logger: Logger;
  checks: RestoreCheck[];
  signal?: AbortSignal;
  readHead: (head: ArchiveFile) => Promise<Buffer>;
}

/**
 * Writes the saved head (boot code, and whatever lives between the table and the first
 * partition), recreates the table for the target's size, puts the MBR boot code back
 * (sfdisk writes a fresh protective MBR for GPT), checks the table and maps the partitions.
 */
async function restoreTable(
  manifest: Manifest,
  target: TargetDevice,
  opts: TableOptions,
): Promise<Map<number | null, string>> {
  const run = { logger: opts.logger, ...(opts.signal ? { signal: opts.signal } : {}) };
  const savedDump = manifest.partitionTable.sfdiskDump as string;
  const head = manifest.head !== null ? await opts.readHead(manifest.head) : null;
  if (head !== null) await writeAt(target.realPath, head);
  await runCommand('sfdisk', sfdiskWriteArgs(target.realPath), {
    ...run,
    input: rewriteDumpForTarget(savedDump, target.realPath),
  });
  if (head !== null) await writeAt(target.realPath, head.subarray(0, BOOT_CODE_BYTES));
  const written = await runCommand('sfdisk', sfdiskDumpArgs(target.realPath), run);
  const tableCheck = checkTable(savedDump, written.stdout);
  opts.checks.push(tableCheck);
  if (!tableCheck.ok) {
    throw new AppError(
      'RESTORE_MISMATCH',
      `the recreated partition table differs: ${String(tableCheck.detail)}`,
    );
  }
  const numbers = new Set(dumpPartitionNumbers(savedDump));
  const wanted = manifest.partitions
    .filter((p) => (p.action !== 'skipped' || p.fsType === 'swap') && p.number !== null)
    .filter((p) => numbers.has(p.number as number))
    .map((p) => ({ number: p.number as number, startSector: p.startSector }));
  const mapped = await mapTargetPartitions(target, wanted, opts);
  return new Map([...mapped].map(([n, m]) => [n, m.device]));
}

/** Times one step of this restore into its report. */
type Timer = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

interface FilesystemOptions {
  /** The partition's archives, full backup first (more than one for an incremental). */
  archives: ChainArchive[];
  mountpoint: string;
  stack: CleanupStack;
  run: { logger: Logger; signal?: AbortSignal };
  read: (
    archive: ArchiveFile,
    sink: { kind: 'tar'; directory: string; incremental: boolean; ontoExisting: boolean },
    dir: string,
  ) => Promise<unknown>;
  timed: Timer;
  tag: string;
  /** The backup left files out, so fewer inodes come back. */
  hadExcludes: boolean;
}

/** mkfs with the saved identity, mount read-write, extract, count, unmount, probe. */
async function restoreFilesystem(
  p: ManifestPartition,
  device: string,
  opts: FilesystemOptions,
): Promise<RestoreCheck[]> {
  const { mountpoint, stack, run, read, timed, tag } = opts;
  const logger = run.logger;
  const fsType = p.fsType as string;
  const inodes = fsType.startsWith('ext') ? extInodeCount(p.sizeBytes, p.fileCount) : null;
  const mkfs = mkfsCommand(fsType, device, p.uuid, p.label, inodes);
  await timed(`mkfs:${tag}`, () => {
    const made = runCommand(mkfs.program, mkfs.args, run);
    stepPoint(`mkfs:${tag}`);
    return made;
  });
  await mkdir(mountpoint, { mode: 0o700 });
  const dropDir = stack.push(`rmdir ${mountpoint}`, () => rmdir(mountpoint));
  await runCommand(
    'mount',
    mountArgs(fsType, restoreMountOptions(fsType), device, mountpoint),
    run,
  );
  const dropMount = stack.push(`umount ${mountpoint}`, async () => {
    await runCommand('umount', umountArgs(mountpoint), { logger });
  });
  // Level by level; tar applies each level's directory listings (deletions, renames).
  const incremental = opts.archives.length > 1;
  // The device writes while tar fills it; stopped before anything unmounts (a running
  // `sync` holds the filesystem open).
  const writeback = startWriteback(mountpoint, run);
  try {
    for (const [level, a] of opts.archives.entries()) {
      const name = incremental ? `extract:${tag}:l${level}` : `extract:${tag}`;
      await timed(name, () =>
        read(
          a.archive,
          // Level 0 lands on the filesystem just made; later levels on the tree before them.
          { kind: 'tar', directory: mountpoint, incremental, ontoExisting: level > 0 },
          a.dir,
        ),
      );
    }
  } catch (err) {
    await writeback.stop().catch(() => undefined);
    throw err;
  }
  const written = await writeback.stop();
  const { restored, probe } = await timed(`check:${tag}`, async () => {
    // syncfs first: XFS frees unlinked inodes in the background (tar's placeholders for
    // symlinks are such), and statfs counts them until then (seen: 3 too many for 3 links).
    await runCommand('sync', ['--file-system', mountpoint], run);
    const inodes = await inodesInUse(mountpoint);
    // Unmount now rather than at the end: the data must be on the device before it is
    // probed. The stack keeps its entry until the unmount has worked.
    await runCommand('umount', umountArgs(mountpoint), run);
    dropMount();
    await rmdir(mountpoint);
    dropDir();
    const blkid = await runCommand('blkid', blkidProbeArgs(device), run);
    return { restored: inodes, probe: parseBlkidExport(blkid.stdout) };
  });
  logger.info(
    { partition: partitionTag(p), fsType, inodes: restored, writeback: written },
    'filesystem restored',
  );
  return [checkIdentity(p, probe), checkFileCount(p, restored, opts.hadExcludes)];
}
