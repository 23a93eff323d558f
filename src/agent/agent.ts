/**
 * The storage-node agent: claims the jobs of its backend hosts, runs them through the
 * engine within the node and per-VG limits, renews their leases, records each step, and
 * stops in order.
 *
 * Start: check the schema, reap leftovers of crashed runs, listen for hints, claim.
 * Stop (the signal passed to run() aborts): claim nothing more; let running jobs finish up
 * to `stopTimeoutSeconds`; then abort them (the engine unwinds its cleanup stack) and give
 * them back to the queue; close the listener. A job that has not unwound within the abort
 * grace (see abortGraceMs) is given back anyway and left behind: run() resolves all the same.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { readAgentRole, unmappedHosts } from '../db/agent-hosts.js';
import { assertSchemaCurrent } from '../db/migrate.js';
import { markAgentStopped, recordAgentHeartbeat } from '../db/agent-heartbeats.js';
import { appendEvent } from '../db/events.js';
import { AppError, isRetryable, toAppError } from '../errors.js';
import { jitteredBackoff } from '../lifecycle/backoff.js';
import type { Job, JobKind } from '../jobs/job.js';
import {
  claimJobs,
  completeJob,
  failJob,
  failLapsedJobs,
  markJobCancelled,
  releaseJob,
  renewLease,
} from '../jobs/queue.js';
import type { Logger } from '../log.js';
import type { AgentOptions, ServedHost } from './agent-options.js';
import { planClaim } from './claim-plan.js';
import { reportDestinationSpace } from './report-space.js';
import type { EnginePort } from './engine-port.js';
import { eventRecorder, type JobHandler } from './job-context.js';
import { runBackup } from './backup-job.js';
import { runPrune } from './prune-job.js';
import { runRestore } from './restore-job.js';
import { runVerify } from './verify-job.js';
import { QueueWakeup } from './wakeup.js';
import { persistResult } from './persist-result.js';
import { settledWithin, sleep } from '../lifecycle/sleep.js';

const HANDLERS: Record<JobKind, JobHandler> = {
  backup: runBackup,
  verify: runVerify,
  restore: runRestore,
  prune: runPrune,
};

/** Why a running job was stopped from outside its handler. */
type StopReason = 'shutdown' | 'cancel' | 'lease-lost';

interface RunningJob {
  job: Job;
  controller: AbortController;
  stopReason: StopReason | null;
  /** Renew (and so look for a cancel request) now rather than at the next tick. */
  checkNow: () => void;
  /** Stops renewing the lease (a job given up at shutdown that did not unwind). */
  stopRenewing: () => void;
  done: Promise<void>;
}

/** How run() ended: the jobs given back to the queue although their handler had not returned. */
export interface AgentStopped {
  abandoned: number;
}

/** The longest wait, after the abort at the stop deadline, for aborted jobs to unwind. */
export const ABORT_GRACE_CAP_SECONDS = 30;

/**
 * How long aborted jobs may take to unwind (their engine's cleanup): as long again as the
 * stop timeout, at most ABORT_GRACE_CAP_SECONDS. Bounded because some waits never end on an
 * abort: a write blocked in the kernel on a frozen or hung destination (no signal
 * interrupts it), a promise an engine never settles. Before this bound such a job kept a
 * SIGTERMed agent (and the job's lease) alive for as long as the destination stayed stuck.
 */
export function abortGraceMs(stopTimeoutSeconds: number): number {
  return Math.min(stopTimeoutSeconds, ABORT_GRACE_CAP_SECONDS) * 1000;
}

/** A unique id per agent process: host name, pid and a random suffix. */
export function newAgentId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface AgentDeps {
  pool: pg.Pool;
  /** Connection string for the LISTEN connection (a pool client cannot hold LISTEN). */
  databaseUrl: string;
  engine: EnginePort;
  options: AgentOptions;
  logger: Logger;
  agentId?: string;
}

export class Agent {
  readonly agentId: string;
  private readonly running = new Map<number, RunningJob>();
  private wake: () => void = () => undefined;
  private hostOrder: ServedHost[];

  constructor(private readonly deps: AgentDeps) {
    this.agentId = deps.agentId ?? newAgentId();
    this.hostOrder = [...deps.options.hosts];
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  private async event(
    kind: string,
    message: string,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    await appendEvent(this.deps.pool, { kind, node: this.agentId, message, data }).catch(
      (err: unknown) => this.log.warn({ err, kind }, 'cannot record an agent event'),
    );
  }

  /** Tells monitoring the agent is alive; a failure is logged and never stops the agent. */
  private async heartbeat(hosts: readonly string[], startedAt: Date): Promise<void> {
    await recordAgentHeartbeat(this.deps.pool, { agentId: this.agentId, hosts, startedAt }).catch(
      (err: unknown) => this.log.warn({ err }, 'cannot record a heartbeat in agent_heartbeats'),
    );
  }

  /** Runs until `signal` aborts, then stops in order; resolves when everything is closed. */
  async run(signal: AbortSignal): Promise<AgentStopped> {
    const { pool, options } = this.deps;
    const hosts = options.hosts.map((h) => h.host);
    await assertSchemaCurrent(pool);
    const role = await readAgentRole(pool);
    const unmapped = unmappedHosts(role, hosts);
    if (unmapped.length > 0) {
      // Row security would hide these hosts' jobs: the agent would idle without a word.
      throw new AppError(
        'CONFIG_INVALID',
        `database role ${role.role} is not mapped to ${unmapped.join(', ')} in agent_hosts; ` +
          'an operator adds the rows (README: Database roles)',
      );
    }
    await this.event('agent.started', this.agentId, { hosts: options.hosts, dest: options.dest });
    const startedAt = new Date();
    await this.heartbeat(hosts, startedAt);
    this.log.info({ agentId: this.agentId, hosts }, 'agent started');

    // Leftovers of a crashed run on this node go first: a lapsed job we take over may
    // find its old snapshot in the way otherwise.
    const reaped = await this.deps.engine.reap({ logger: this.log, signal });
    await this.event('agent.reaped', `${reaped.removed.length} removed`, { ...reaped });
    if (reaped.errors.length > 0) this.log.warn({ errors: reaped.errors }, 'reap left errors');
    await reportDestinationSpace(pool, options.dest, this.log);

    const wakeup = new QueueWakeup(
      this.deps.databaseUrl,
      new Set(hosts),
      {
        onJobs: () => this.wake(),
        onCancel: (id) => this.running.get(id)?.checkNow(),
      },
      this.log,
    );
    await wakeup.start();
    let abandoned = 0;
    try {
      while (!signal.aborted) {
        try {
          const ended = await failLapsedJobs(pool, hosts);
          for (const j of ended) {
            await this.event('job.lease-expired', `job ${j.id} ended: ${j.state}`, { jobId: j.id });
          }
          await this.claimRound();
        } catch (err) {
          // The database may be restarting; keep running jobs and try again at the next tick.
          this.log.warn({ err }, 'claim round failed');
        }
        await this.heartbeat(hosts, startedAt);
        const woken = new AbortController();
        this.wake = () => woken.abort();
        await sleep(options.pollSeconds * 1000, AbortSignal.any([signal, woken.signal]));
        this.wake = () => undefined;
        this.log.trace({ running: this.running.size }, 'poll');
      }
      this.log.info({ running: [...this.running.keys()] }, 'stopping: no more claims');
      abandoned = await this.stopJobs();
    } finally {
      await wakeup.stop();
      await markAgentStopped(pool, this.agentId).catch((err: unknown) =>
        this.log.warn({ err }, 'cannot record the agent stop in agent_heartbeats'),
      );
      await this.event('agent.stopped', this.agentId);
      this.log.info({ agentId: this.agentId, abandoned }, 'agent stopped');
    }
    return { abandoned };
  }

  /** Claims what the limits allow, host by host, rotating which host goes first. */
  private async claimRound(): Promise<void> {
    const { pool, options } = this.deps;
    for (const host of this.hostOrder) {
      const step = planClaim({
        host,
        hosts: options.hosts,
        running: [...this.running.values()].map((r) => ({
          host: r.job.backendHost,
          kind: r.job.kind,
        })),
        concurrency: options.concurrency,
        perVg: options.perVg,
      });
      if (step === null) break;
      const jobs = await claimJobs(pool, {
        agentId: this.agentId,
        hosts: [step.host],
        kinds: step.kinds,
        limit: step.limit,
        leaseSeconds: options.leaseSeconds,
      });
      if (jobs.length > 0)
        this.log.debug({ host: step.host, jobs: jobs.map((j) => j.id) }, 'claimed');
      for (const job of jobs) this.start(job, host);
    }
    this.hostOrder.push(this.hostOrder.shift() as ServedHost);
  }

  private start(job: Job, served: ServedHost): void {
    const controller = new AbortController();
    let checkNow: () => void = () => undefined;
    const entry: RunningJob = {
      job,
      controller,
      stopReason: null,
      checkNow: () => checkNow(),
      stopRenewing: () => stopRenewing.abort(),
      done: Promise.resolve(),
    };
    const stopRenewing = new AbortController();
    const renewLoop = this.renewLoop(entry, stopRenewing.signal, (f) => (checkNow = f));
    entry.done = this.execute(entry, served).finally(async () => {
      stopRenewing.abort();
      await renewLoop;
      this.running.delete(job.id);
      this.wake();
    });
    this.running.set(job.id, entry);
  }

  /** Renews the lease every third of it; aborts the job on cancel or when the lease is gone. */
  private async renewLoop(
    entry: RunningJob,
    stop: AbortSignal,
    setCheckNow: (f: () => void) => void,
  ): Promise<void> {
    const { pool, options } = this.deps;
    const every = (options.leaseSeconds * 1000) / 3;
    // After a failed renewal (Postgres restarting, a connection it killed) the next try
    // comes within a second rather than a third of the lease later: otherwise the first try
    // after a short outage may come too late and the agent gives up a healthy run.
    const afterFailure = Math.min(every, 1000);
    let lastOk = Date.now();
    let failed = false;
    while (!stop.aborted) {
      const early = new AbortController();
      setCheckNow(() => early.abort());
      await sleep(failed ? afterFailure : every, AbortSignal.any([stop, early.signal]));
      if (stop.aborted) return;
      // The database extends the lease from the statement's own time, not from its answer.
      const attemptAt = Date.now();
      try {
        const lease = await renewLease(pool, entry.job.id, this.agentId, options.leaseSeconds);
        lastOk = attemptAt;
        failed = false;
        if (!lease.held) this.stopJob(entry, 'lease-lost');
        else if (lease.cancelRequested) this.stopJob(entry, 'cancel');
      } catch (err) {
        failed = true;
        this.log.warn({ err, jobId: entry.job.id }, 'lease renewal failed');
        // Past the lease another agent may take the job over: stop before it does.
        if (Date.now() - lastOk > options.leaseSeconds * 1000) this.stopJob(entry, 'lease-lost');
      }
    }
  }

  private stopJob(entry: RunningJob, reason: StopReason): void {
    if (entry.stopReason !== null) return;
    entry.stopReason = reason;
    entry.controller.abort(new AppError('ABORTED', `job ${entry.job.id} stopped: ${reason}`));
  }

  /** Runs one job's handler and records its outcome in the queue. */
  private async execute(entry: RunningJob, served: ServedHost): Promise<void> {
    const { pool, options, engine } = this.deps;
    const { job } = entry;
    const logger = this.log.child({ jobId: job.id, volumeId: job.volumeId, kind: job.kind });
    const record = eventRecorder(pool, job, this.agentId);
    try {
      await record('job.claimed', `attempt ${job.attempts}`, { attempt: job.attempts });
      const result = await HANDLERS[job.kind]({
        job,
        pool,
        engine,
        options,
        served,
        agentId: this.agentId,
        signal: entry.controller.signal,
        logger,
        record,
      });
      // The work is done: its completion is written through a database outage rather
      // than failed (and run again), for as long as the lease is ours.
      const persist = <T>(what: string, write: () => Promise<T>): Promise<T> =>
        persistResult(what, write, { signal: entry.controller.signal, logger });
      if (
        await persist('the job completion', () => completeJob(pool, job.id, this.agentId, result))
      ) {
        // The job is complete: a refused event insert is logged, not a failure of the job.
        await persist('the job.succeeded event', () =>
          record('job.succeeded', undefined, result),
        ).catch((err: unknown) => logger.error({ err }, 'cannot record the job.succeeded event'));
      } else {
        logger.warn('job finished after its lease was lost; another agent owns it');
      }
    } catch (err) {
      const e = toAppError(err);
      await this.recordFailure(entry, e, logger).catch((recordErr: unknown) =>
        logger.error({ err: recordErr }, 'cannot record the job outcome'),
      );
    }
    // Backups fill the destination and prunes empty it: the mail report shows what is left.
    if (job.kind === 'backup' || job.kind === 'prune') {
      await reportDestinationSpace(pool, options.dest, logger);
    }
  }

  private async recordFailure(entry: RunningJob, e: AppError, logger: Logger): Promise<void> {
    const { pool } = this.deps;
    const { job } = entry;
    const record = eventRecorder(pool, job, this.agentId);
    switch (entry.stopReason) {
      case 'shutdown':
        if (await releaseJob(pool, job.id, this.agentId)) {
          await record('job.released', 'agent shutting down');
        }
        return;
      case 'cancel':
        if (await markJobCancelled(pool, job.id, this.agentId)) {
          await record('job.cancelled', e.message);
        }
        return;
      case 'lease-lost':
        logger.warn('lease lost; the job belongs to another agent now');
        await record('job.lease-lost', e.message);
        return;
      case null: {
        const retryable = isRetryable(e);
        // Written through a database outage too (while the lease holds): otherwise the job
        // stays 'running' until its lease lapses, and only then runs again.
        const state = await persistResult(
          'the job failure',
          () =>
            failJob(pool, job.id, this.agentId, {
              code: e.code,
              message: e.message,
              retryable,
              retryInSeconds: jitteredBackoff(job.attempts, {
                base: this.deps.options.retryBaseSeconds,
                cap: this.deps.options.retryCapSeconds,
              }),
            }),
          { signal: entry.controller.signal, logger },
        );
        await record(state === 'queued' ? 'job.retry-scheduled' : 'job.failed', e.message, {
          code: e.code,
          retryable,
          attempt: job.attempts,
        });
        logger.warn({ err: e, state }, 'job failed');
      }
    }
  }

  /**
   * Graceful stop of the running jobs: wait up to the deadline, then abort and release;
   * jobs still running after the abort grace are released here and left behind (their
   * leftovers are the reaper's at the next start). Resolves with how many were left.
   */
  private async stopJobs(): Promise<number> {
    const pending = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    if (this.running.size === 0) return 0;
    const { stopTimeoutSeconds } = this.deps.options;
    const deadline = stopTimeoutSeconds * 1000;
    this.log.info({ jobs: this.running.size, deadlineMs: deadline }, 'waiting for running jobs');
    await settledWithin(pending(), deadline);
    if (this.running.size === 0) return 0;
    this.log.warn({ jobs: [...this.running.keys()] }, 'stop deadline passed; aborting jobs');
    for (const entry of this.running.values()) this.stopJob(entry, 'shutdown');
    const grace = abortGraceMs(stopTimeoutSeconds);
    await settledWithin(pending(), grace);
    const stuck = [...this.running.values()];
    for (const entry of stuck) await this.abandon(entry, grace);
    return stuck.length;
  }

  /** Gives a job that did not unwind after its abort back to the queue, with the reason. */
  private async abandon(entry: RunningJob, graceMs: number): Promise<void> {
    const { job } = entry;
    entry.stopRenewing();
    const why =
      `agent shutting down: the job did not stop within ${graceMs / 1000} s of its abort ` +
      `(a write blocked in the kernel, e.g. on a frozen or hung destination, or a step that ` +
      `ignores the abort); given back to the queue, its leftovers are reaped at the next start`;
    this.log.error({ jobId: job.id, graceMs }, why);
    try {
      if (await releaseJob(this.deps.pool, job.id, this.agentId)) {
        await eventRecorder(this.deps.pool, job, this.agentId)('job.released', why, {
          abandoned: true,
          graceMs,
        });
      }
    } catch (err) {
      this.log.error({ err, jobId: job.id }, 'cannot give the job back; its lease will lapse');
    }
    this.running.delete(job.id);
  }
}
