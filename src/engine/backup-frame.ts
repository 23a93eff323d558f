/**
 * The frame every backup runs in: ids, destination and run directory set up before any
 * work, a cleanup stack unwound whatever happens, the manifest and SHA256SUMS written last,
 * and on failure the unfinished backup directory removed.
 */
import { ConsistencySteps, type ConsistencyRequest } from '../consistency/consistency-steps.js';
import { cpus } from 'node:os';
import { AppError, toAppError } from '../errors.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { silentLogger, type Logger } from '../log.js';
import { assertRunId, newBackupId } from './backup-id.js';
import {
  commitBackupDir,
  discardBackupDir,
  prepareBackupDir,
  type BackupDir,
} from './backup-dir.js';
import { chooseBase, type ChainBase, type LevelRequest } from './backup-chain.js';
import type { SourceRef } from './chain-rules.js';
import { formatSha256Sums, manifestFiles } from './checksums.js';
import { writeFileDurably } from './durable-file.js';
import {
  CHECKSUM_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MANIFEST_VERSION_INCREMENTAL,
  type Manifest,
  type ManifestCatalog,
} from './manifest.js';
import { toTarExcludes } from '../policy/exclude-patterns.js';
import { createRunDir, removeRunDir } from './run-dir.js';
import { join } from 'node:path';
import type { Progress } from './progress.js';
import { timed, type Timings } from './timings.js';
import { stepPoint } from '../lifecycle/step-pause.js';
import { settleAll } from '../lifecycle/settle-all.js';

export interface BackupResult {
  manifestPath: string;
  backupDir: string;
  manifest: Manifest;
}

export interface RunContext {
  backupId: string;
  runId: string;
  runDir: string;
  dir: BackupDir;
  excludes: string[];
  compression: { level: number; threads: number };
  stack: CleanupStack;
  timings: Timings;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** The chain the backup continues, or why it is a full one (see chooseBase). */
  base: ChainBase;
  /** When the frame started (before any snapshot). */
  startedAt: Date;
}

export type ManifestBody = Omit<
  Manifest,
  | 'format'
  | 'version'
  | 'backupId'
  | 'startedAt'
  | 'finishedAt'
  | 'excludes'
  | 'compression'
  | 'timings'
  | 'catalog'
>;

export const ZSTD_LEVEL = 3;

/** The level of a backup nobody asked to be incremental. */
const FULL_ASKED: LevelRequest = { kind: 'full', reason: 'full backup asked' };

/** What every backup request carries, whatever its source (device or LV). */
export interface BackupRequestBase {
  dest: string;
  excludes?: string[];
  runId?: string;
  /** Catalog facts to record in the manifest (the agent's volume, project, host, policy). */
  catalog?: ManifestCatalog;
  /** Full (the default) or incremental on a parent; see LevelRequest. */
  level?: LevelRequest;
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (p: Progress) => void;
}

export interface RunFrameRequest extends BackupRequestBase {
  sourceName: string;
  /** The source, to match an incremental's parent against. */
  source: SourceRef;
  /** Checks that run before the destination is touched (names, device exists, …). */
  validate?: () => Promise<void>;
  /**
   * Called when the body failed, before cleanup: may replace the error with a better
   * explanation (e.g. the snapshot overflowed, which made a mount fail).
   */
  explainFailure?: (err: AppError) => Promise<AppError>;
}

/** Runs `body` inside the frame and returns the committed backup. */
export async function runBackupFrame(
  req: RunFrameRequest,
  body: (ctx: RunContext) => Promise<ManifestBody>,
): Promise<BackupResult> {
  const startedAt = new Date();
  const t0 = Date.now();
  const logger = req.logger ?? silentLogger;
  const excludes = toTarExcludes(req.excludes ?? []);
  const backupId = newBackupId(startedAt);
  const runId = assertRunId(req.runId ?? backupId);
  req.signal?.throwIfAborted();
  await req.validate?.();

  const dir = await prepareBackupDir(req.dest, req.sourceName, backupId, runId);
  const stack = new CleanupStack();
  const timings: Timings = {};
  const log = logger.child({ backupId, runId, component: 'backup' });
  let committed = false;
  let failure: AppError | null = null;
  try {
    const runDir = await createRunDir(runId);
    stack.push(`remove run dir ${runDir}`, () => removeRunDir(runDir));
    const level = req.level ?? FULL_ASKED;
    const base = await chooseBase(level, {
      sourceDir: dir.sourceDir,
      source: req.source,
      excludes,
      logger: log,
    });
    if (base.parent === null && level.kind !== 'full') {
      log.info({ reason: base.fullReason }, 'incremental asked; making a full backup');
    }
    const ctx: RunContext = {
      backupId,
      runId,
      runDir,
      dir,
      excludes,
      compression: { level: ZSTD_LEVEL, threads: Math.max(1, Math.min(cpus().length, 8)) },
      stack,
      timings,
      logger: log,
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      base,
      startedAt,
    };
    let bodyResult: ManifestBody;
    try {
      bodyResult = await body(ctx);
    } catch (err) {
      let e = toAppError(err, 'INTERNAL');
      if (req.signal?.aborted && e.code !== 'ABORTED') {
        e = new AppError('ABORTED', `backup cancelled: ${e.message}`, { cause: err });
      }
      throw req.explainFailure ? await req.explainFailure(e) : e;
    }
    const outcomes = await timed(timings, 'cleanup', () =>
      stack.unwind((name) => stepPoint(`cleanup:${name.split(' ')[0] ?? ''}`)),
    );
    const failed = outcomes.filter((o) => !o.ok);
    if (failed.length > 0) {
      throw new AppError(
        'CLEANUP_FAILED',
        `cleanup failed: ${failed.map((o) => `${o.name}: ${String((o.error as Error | undefined)?.message ?? o.error)}`).join('; ')}`,
        { cause: failed[0]?.error },
      );
    }
    timings['total'] = Date.now() - t0;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: (bodyResult.chain?.level ?? 0) > 0 ? MANIFEST_VERSION_INCREMENTAL : MANIFEST_VERSION,
      backupId,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ...bodyResult,
      compression: { program: 'zstd', ...ctx.compression },
      excludes,
      timings,
      ...(req.catalog ? { catalog: req.catalog } : {}),
    };
    // Independent files of the same uncommitted directory: written side by side.
    await settleAll([
      writeFileDurably(dir.workDir, CHECKSUM_FILE, formatSha256Sums(manifestFiles(manifest))),
      writeFileDurably(dir.workDir, MANIFEST_FILE, JSON.stringify(manifest, null, 2) + '\n'),
    ]);
    await commitBackupDir(dir);
    committed = true;
    log.info({ storedBytes: manifest.totals.storedBytes, ms: timings['total'] }, 'backup done');
    return { manifestPath: join(dir.finalDir, MANIFEST_FILE), backupDir: dir.finalDir, manifest };
  } catch (err) {
    failure = toAppError(err);
    throw failure;
  } finally {
    if (!committed) {
      const outcomes = await stack.unwind();
      for (const o of outcomes.filter((x) => !x.ok)) {
        log.error({ step: o.name, err: o.error }, 'cleanup step failed');
      }
      await discardBackupDir(dir).catch((e: unknown) =>
        log.error({ err: e }, 'cannot remove unfinished backup'),
      );
      if (failure && outcomes.some((o) => !o.ok)) {
        failure.message += ` (and cleanup failed: ${outcomes
          .filter((o) => !o.ok)
          .map((o) => o.name)
          .join(', ')}; run "reap")`;
      }
    }
  }
}

/**
 * Starts a request's consistency steps inside a run (their cleanup on the run's stack) and
 * takes the database dump first, timed as `mysqldump`; null when the request asks none.
 */
export async function startConsistency(
  request: ConsistencyRequest | undefined,
  ctx: RunContext,
): Promise<ConsistencySteps | null> {
  if (!request) return null;
  const steps = new ConsistencySteps(request, {
    workDir: ctx.dir.workDir,
    runDir: ctx.runDir,
    compression: ctx.compression,
    logger: ctx.logger,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
  });
  ctx.stack.push('remove ssh config', () => steps.cleanup());
  const started = Date.now();
  await steps.dump();
  if (request.mysqldump) ctx.timings['mysqldump'] = Date.now() - started;
  return steps;
}
