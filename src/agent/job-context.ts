/**
 * What a job handler gets: the job, the database, the engine, the agent's settings, an
 * abort signal (shutdown, cancel or lost lease) and a way to record events.
 */
import type pg from 'pg';
import { appendEvent } from '../db/events.js';
import type { Job } from '../jobs/job.js';
import type { Logger } from '../log.js';
import type { AgentOptions, ServedHost } from './agent-options.js';
import type { Progress } from '../engine/progress.js';
import type { EnginePort } from './engine-port.js';

export interface JobContext {
  job: Job;
  pool: pg.Pool;
  engine: EnginePort;
  options: AgentOptions;
  /** The host entry (and so the VG) the job belongs to. */
  served: ServedHost;
  agentId: string;
  signal: AbortSignal;
  logger: Logger;
  /** Appends an event for this job (kind, message, data). */
  record: (kind: string, message?: string, data?: Record<string, unknown>) => Promise<void>;
}

/** Handler of one job kind; resolves with the job's result, throws to fail it. */
export type JobHandler = (ctx: JobContext) => Promise<Record<string, unknown>>;

/** Builds the `record` function of a job's context. */
export function eventRecorder(pool: pg.Pool, job: Job, agentId: string): JobContext['record'] {
  return (kind, message, data) =>
    appendEvent(pool, {
      kind,
      volumeId: job.volumeId,
      jobId: job.id,
      node: agentId,
      message: message ?? null,
      data: data ?? {},
    });
}

/**
 * An onProgress callback that records an event each time the phase changes (not every
 * tick) and logs the figures; `flush` waits for the recorded events.
 */
export function phaseRecorder(
  ctx: Pick<JobContext, 'record' | 'logger'>,
  kind: string,
): { onProgress: (p: Progress) => void; flush: () => Promise<void> } {
  let lastPhase: string | null = null;
  let lastLog = 0;
  let pending: Promise<void> = Promise.resolve();
  const onProgress = (p: Progress): void => {
    const now = Date.now();
    if (now - lastLog > 10_000) {
      lastLog = now;
      ctx.logger.info(
        { phase: p.phase, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal },
        'progress',
      );
    }
    if (p.phase === lastPhase) return;
    lastPhase = p.phase;
    pending = pending
      .then(() => ctx.record(kind, p.phase, { ...p }))
      .catch((err: unknown) => ctx.logger.warn({ err }, 'cannot record a progress event'));
  };
  return { onProgress, flush: () => pending };
}
