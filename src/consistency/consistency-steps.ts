/**
 * The consistency steps of one backup, in the order the engine calls them: `prepare` (the
 * ssh config), `dump` before the snapshot, `aroundSnapshot` to freeze the instance's
 * filesystems while the snapshot is made, then `report` for the manifest. A step that
 * fails when the demanded level needs it fails the backup with its reason; otherwise the
 * backup goes on and the report says which lower level it reached and why.
 */
import { rm } from 'node:fs/promises';
import { AppError, toAppError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ConsistencyReport, ManifestDump } from '../engine/manifest.js';
import { DEFAULT_FREEZE_BOUND_SECONDS, freeze } from './fsfreeze.js';
import {
  demandedLevel,
  levelRank,
  reachedLevel,
  shortfallReason,
  type Level,
  type StepOutcome,
  type StepsAsked,
} from '../policy/consistency-levels.js';
import { dumpDatabases } from './mysqldump.js';
import type { MysqldumpCommand } from './remote-command.js';
import { prepareSsh, type SshEndpoint } from './ssh-session.js';
import type { SshTarget } from './ssh-target.js';

/** What a backup asks of the instance. */
export interface ConsistencyRequest {
  /**
   * The instance to reach, or why it cannot be reached (no attachment, no address, SSH not
   * configured on this node): each asked step then fails with that reason, and the demanded
   * level decides whether the backup fails or goes on at a lower level.
   */
  ssh: SshTarget | SshUnavailable;
  mysqldump?: MysqldumpCommand | null;
  freeze?: { mountpoints: string[]; boundSeconds?: number } | null;
  /** The level that must be reached; null: what the steps imply. */
  level?: Level | null;
  dumpTimeoutMs?: number;
  freezeSetupTimeoutMs?: number;
}

export interface SshUnavailable {
  unavailable: { code: ErrorCode; message: string };
}

export const DEFAULT_DUMP_TIMEOUT_MS = 6 * 3600_000;
export const DEFAULT_FREEZE_SETUP_TIMEOUT_MS = 60_000;

export interface StepContext {
  workDir: string;
  runDir: string;
  compression: { level: number; threads: number };
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; bytesDone: number; bytesTotal: number | null }) => void;
}

/** The asked steps and demanded level of a request, or INVALID_ARGUMENT. */
export function checkRequest(req: ConsistencyRequest): { asked: StepsAsked; demanded: Level } {
  const asked: StepsAsked = {
    mysqldump: req.mysqldump != null,
    freeze: req.freeze != null && req.freeze.mountpoints.length > 0,
  };
  const d = demandedLevel(req.level ?? null, asked);
  if (!d.ok) throw new AppError('INVALID_ARGUMENT', d.reason);
  return { asked, demanded: d.level };
}

export class ConsistencySteps {
  private readonly asked: StepsAsked;
  readonly demanded: Level;
  private endpoint: SshEndpoint | null = null;
  private readonly outcomes: StepOutcome[] = [];
  private windowMs: number | null = null;
  private dumpFile: ManifestDump | null = null;

  constructor(
    private readonly req: ConsistencyRequest,
    private readonly ctx: StepContext,
  ) {
    ({ asked: this.asked, demanded: this.demanded } = checkRequest(req));
  }

  /** Whether `step`'s failure leaves the backup below its demanded level. */
  private demands(step: StepOutcome['step']): boolean {
    if (step === 'mysqldump') return levelRank(this.demanded) >= levelRank('application');
    // A freeze asked for alongside a dump is part of `application` as well.
    return levelRank(this.demanded) >= levelRank('filesystem');
  }

  private record(step: StepOutcome['step'], err: unknown, started: number): void {
    const e = toAppError(err);
    if (e.code === 'ABORTED' || this.ctx.signal?.aborted) throw e;
    this.outcomes.push({
      step,
      ok: false,
      code: e.code,
      reason: e.message,
      durationMs: Date.now() - started,
    });
    if (this.demands(step)) {
      throw new AppError(
        e.code,
        `${this.demanded} consistency was demanded but ${step} failed: ${e.message}`,
        { cause: e, retryable: e.retryable, ...(e.details ? { details: e.details } : {}) },
      );
    }
    this.ctx.logger.warn(
      { err: e, step },
      'consistency step failed; the backup goes on at a lower level',
    );
  }

  private async ssh(): Promise<SshEndpoint> {
    const target = this.req.ssh;
    if ('unavailable' in target) {
      throw new AppError(target.unavailable.code, target.unavailable.message);
    }
    this.endpoint ??= await prepareSsh(target, this.ctx.runDir);
    return this.endpoint;
  }

  /** Removes the ssh config from the run directory (which is only ever rmdir'ed). */
  async cleanup(): Promise<void> {
    if (this.endpoint !== null) await rm(this.endpoint.configFile, { force: true });
  }

  /** Runs the dump (when asked) and stores it in the work directory. */
  async dump(): Promise<void> {
    const cmd = this.req.mysqldump;
    if (cmd == null) return;
    const started = Date.now();
    try {
      const endpoint = await this.ssh();
      this.ctx.onProgress?.({ phase: 'mysqldump', bytesDone: 0, bytesTotal: null });
      const r = await dumpDatabases({
        endpoint,
        command: cmd,
        dir: this.ctx.workDir,
        cwd: this.ctx.runDir,
        compression: this.ctx.compression,
        timeoutMs: this.req.dumpTimeoutMs ?? DEFAULT_DUMP_TIMEOUT_MS,
        logger: this.ctx.logger,
        ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
        onProgress: (n) =>
          this.ctx.onProgress?.({ phase: 'mysqldump', bytesDone: n, bytesTotal: null }),
      });
      this.dumpFile = {
        ...r.archive,
        databases: cmd.databases === 'all' ? 'all' : [...cmd.databases],
        durationMs: r.durationMs,
        binlog: r.binlog,
      };
      this.outcomes.push({ step: 'mysqldump', ok: true, durationMs: Date.now() - started });
    } catch (err) {
      this.record('mysqldump', err, started);
    }
  }

  /** Makes the snapshot with the instance's filesystems frozen (when asked). */
  async aroundSnapshot(snapshot: () => Promise<void>): Promise<void> {
    const f = this.req.freeze;
    if (f == null || f.mountpoints.length === 0) return snapshot();
    const started = Date.now();
    let session;
    try {
      session = await freeze({
        endpoint: await this.ssh(),
        mountpoints: f.mountpoints,
        boundSeconds: f.boundSeconds ?? DEFAULT_FREEZE_BOUND_SECONDS,
        setupTimeoutMs: this.req.freezeSetupTimeoutMs ?? DEFAULT_FREEZE_SETUP_TIMEOUT_MS,
        logger: this.ctx.logger,
        ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
      });
    } catch (err) {
      this.record('fsfreeze', err, started);
      return snapshot();
    }
    let snapshotError: AppError | null = null;
    try {
      await snapshot();
    } catch (err) {
      snapshotError = toAppError(err);
    }
    const thawed = await session.thaw();
    this.windowMs = thawed.windowMs;
    if (thawed.error === null) {
      this.outcomes.push({ step: 'fsfreeze', ok: true, durationMs: Date.now() - started });
    } else if (snapshotError === null) {
      this.record('fsfreeze', thawed.error, started);
    } else {
      this.ctx.logger.warn(
        { err: thawed.error },
        'thaw after a failed snapshot did not go as planned',
      );
    }
    if (snapshotError !== null) throw snapshotError;
  }

  /** The stored dump, for the manifest and SHA256SUMS. */
  storedDump(): ManifestDump | null {
    return this.dumpFile;
  }

  report(): ConsistencyReport {
    return {
      demanded: this.demanded,
      reached: reachedLevel(this.asked, this.outcomes),
      reason: shortfallReason(this.outcomes),
      target: 'unavailable' in this.req.ssh ? 'none' : sshTargetName(this.req.ssh),
      steps: [...this.outcomes],
      freezeWindowMs: this.windowMs,
      mountpoints: this.req.freeze?.mountpoints ?? [],
    };
  }
}

/**
 * The manifest's consistency fields: the level reached (or `base` when no step was asked
 * and for a device backup whose steps reached only `crash`), the report, and the dump.
 */
export function consistencyFields(
  steps: ConsistencySteps | null,
  base: 'crash' | 'as-provided',
): {
  consistency: Level | 'as-provided';
  consistencyReport?: ConsistencyReport;
  dump?: ManifestDump;
} {
  if (steps === null) return { consistency: base };
  const report = steps.report();
  const dump = steps.storedDump();
  return {
    consistency: report.reached === 'crash' ? base : report.reached,
    consistencyReport: report,
    ...(dump === null ? {} : { dump }),
  };
}

/** `user@host:port` of a target, as the manifest records it. */
export function sshTargetName(t: SshTarget): string {
  return `${t.user}@${t.host}:${t.port}`;
}
