/**
 * Puts restore targets back once their restore has ended (the leader's periodic task, and
 * the enqueuer when it gives up): a hold (restore-target-holds.ts) whose job succeeded,
 * failed, was cancelled, is gone or lapsed for good, or whose enqueuer never finished, is
 * read in Cinder; a volume still in `maintenance` goes back to the status it had (in-use if
 * it shows an attachment), anything else is left as someone else set it. The hold rows live
 * in Postgres, so a controller that died in between is repaired by the next leader.
 */
import type pg from 'pg';
import { appendEvent } from '../db/events.js';
import type { Queryable } from '../db/queryable.js';
import { AppError } from '../errors.js';
import { PeriodicTask } from '../lifecycle/periodic-task.js';
import { silentLogger, type Logger } from '../log.js';
import { failHeldJob } from './queue.js';
import {
  closeHold,
  listHoldsToRelease,
  recordHoldReleaseFailure,
  type RestoreTargetHold,
} from './restore-target-holds.js';
import { statusToPutBack, type TargetStatusCinder } from './restore-target-volume.js';

/** After a lease lapsed on the last attempt, how long the leader waits (its agent aborts). */
export const LAPSE_GRACE_SECONDS = 120;
/** How long an enqueuer may take from the held job to `maintenance` read back. */
export const SET_TIMEOUT_SECONDS = 600;
/** Holds released per pass. */
const BATCH = 100;

/**
 * Releases one hold: reads the target in Cinder and puts it back if it is still in
 * maintenance, then closes the hold and records an event. With `cinder` null nothing is
 * read or changed (Cinder refused maintenance outright): the hold closes with
 * `unchangedNote`. Throws when Cinder cannot be read or written (the hold stays open).
 * Returns false when another releaser closed it first.
 */
export async function releaseHold(
  db: Queryable,
  cinder: TargetStatusCinder | null,
  hold: Pick<RestoreTargetHold, 'id' | 'volumeId' | 'jobId' | 'previousStatus'>,
  logger: Logger = silentLogger,
  unchangedNote = 'nothing to put back',
): Promise<boolean> {
  if (cinder === null) return closeHold(db, hold.id, null, unchangedNote);
  const seen = await cinder.lookup(hold.volumeId);
  const back = statusToPutBack(seen, hold.previousStatus);
  if (back.status !== null) await cinder.resetStatus(hold.volumeId, back.status);
  const closed = await closeHold(db, hold.id, back.status, back.note);
  if (closed && back.status !== null) {
    await appendEvent(db, {
      kind: 'restore.target-released',
      jobId: hold.jobId,
      volumeId: hold.volumeId,
      message: `target volume ${hold.volumeId}: ${back.note} after restore job ${hold.jobId}`,
      data: { holdId: hold.id, status: back.status },
    });
  }
  logger.info(
    { holdId: hold.id, jobId: hold.jobId, volumeId: hold.volumeId, status: back.status },
    `restore target released: ${back.note}`,
  );
  return closed;
}

export interface ReleasePassResult {
  released: number;
  failed: number;
}

/** Seconds before a failed release is tried again: 30 s doubling, at most an hour. */
function retryIn(attempts: number): number {
  return Math.min(3600, 30 * 2 ** Math.min(attempts, 7));
}

/** One pass of the leader: releases every hold whose restore has ended. */
export async function releaseEndedRestoreTargets(
  db: Queryable,
  cinder: TargetStatusCinder,
  opts: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<ReleasePassResult> {
  const log = (opts.logger ?? silentLogger).child({ component: 'restore-target-release' });
  const holds = await listHoldsToRelease(db, {
    lapseGraceSeconds: LAPSE_GRACE_SECONDS,
    setTimeoutSeconds: SET_TIMEOUT_SECONDS,
    limit: BATCH,
  });
  const result: ReleasePassResult = { released: 0, failed: 0 };
  for (const hold of holds) {
    if (opts.signal?.aborted === true) break;
    try {
      if (hold.jobHeld) {
        // Its enqueuer stopped before the job became claimable: it never will now.
        await failHeldJob(
          db,
          hold.jobId,
          'TARGET_MAINTENANCE_FAILED',
          `the enqueuer did not finish holding target ${hold.volumeId} within ${SET_TIMEOUT_SECONDS} s`,
        );
      }
      if (await releaseHold(db, cinder, hold, log)) result.released += 1;
    } catch (err) {
      result.failed += 1;
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ err, holdId: hold.id, volumeId: hold.volumeId }, 'restore target not released');
      await recordHoldReleaseFailure(db, hold.id, message, retryIn(hold.attempts));
    }
  }
  return result;
}

/** The release as a leader service of the controller. */
export function restoreTargetReleaseTask(opts: {
  pool: pg.Pool;
  cinder: TargetStatusCinder;
  intervalSeconds: number;
  logger?: Logger;
}): PeriodicTask {
  const logger = opts.logger ?? silentLogger;
  return new PeriodicTask(
    'restore target release',
    opts.intervalSeconds,
    async (signal) => {
      const r = await releaseEndedRestoreTargets(opts.pool, opts.cinder, { logger, signal });
      if (r.failed > 0) {
        throw new AppError('OPENSTACK_UNAVAILABLE', `${r.failed} restore target(s) not released`);
      }
    },
    logger,
  );
}
