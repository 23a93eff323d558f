/**
 * Puts a restore job on the queue: the one place the API and the CLI (`enqueue restore`)
 * share once they have checked the target in Cinder (restore-target-volume.ts).
 *
 * With `[restore] set_maintenance` (the default) the target is held in Cinder's
 * `maintenance` status for the whole restore, so Cinder refuses to attach it meanwhile:
 *   1. the job goes on the queue held back (not claimable) together with a hold row, in one
 *      statement: a controller that dies from here on leaves a record the next leader
 *      repairs (release-restore-targets.ts);
 *   2. Cinder is asked for `maintenance` (os-reset_status, an admin action);
 *   3. Cinder is read back: `maintenance` and still no attachment (an attach that slipped in
 *      between the check and step 2 is caught here);
 *   4. the job becomes claimable, its payload saying that the target was put in maintenance
 *      and from which status; an event records it.
 * Any failure ends the held job (failed, with the code) and answers the error; a target
 * this may have changed is put back at once, or by the leader's next pass.
 */
import { appendEvent } from '../db/events.js';
import type { Queryable } from '../db/queryable.js';
import { AppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { OpenStackApiError } from '../openstack/api-error.js';
import type { Job } from './job.js';
import { enqueueJob, failHeldJob, type EnqueueRequest } from './queue.js';
import { releaseHold } from './release-restore-targets.js';
import { enqueueHeldRestore, markHoldSet, OPEN_HOLD_INDEX } from './restore-target-holds.js';
import {
  heldTargetProblem,
  type CheckedTargetVolume,
  type TargetStatusCinder,
  type TargetVolumeFacts,
} from './restore-target-volume.js';

export type { TargetStatusCinder };

/** The payload key that records the maintenance hold (read by the release and by people). */
export const MAINTENANCE_PAYLOAD_KEY = 'targetMaintenance';

export interface EnqueueRestoreRequest {
  /** The backed-up volume's job key: the restore job belongs to it and to its host. */
  job: Omit<EnqueueRequest, 'kind' | 'runAt'>;
  /** The target as checked in Cinder (available, detached, same host). */
  target: CheckedTargetVolume;
  /** `[restore] set_maintenance`: hold the target in `maintenance` (needs `cinder`). */
  setMaintenance: boolean;
}

function maintenanceFailed(targetId: string, err: unknown): AppError {
  const status = err instanceof OpenStackApiError ? err.status : null;
  const why =
    status === 403
      ? 'Cinder answered 403: the service user needs the admin role for os-reset_status'
      : err instanceof Error
        ? err.message
        : String(err);
  return new AppError(
    'TARGET_MAINTENANCE_FAILED',
    `Cinder did not put target volume ${targetId} in maintenance (${why}); the restore is ` +
      'refused ([restore] set_maintenance = false restores without it)',
    { cause: err, retryable: false },
  );
}

/** Cinder said no (4xx): the status was not changed, there is nothing to put back. */
function refusedOutright(err: unknown): boolean {
  return err instanceof OpenStackApiError && err.status !== null && err.status < 500;
}

/**
 * Enqueues the restore; null when the backed-up volume already has an open restore job
 * (the caller decides whether to join it). Throws TARGET_IN_USE when another restore holds
 * the target, TARGET_MAINTENANCE_FAILED when Cinder would not hold it, TARGET_REFUSED when
 * Cinder shows it changed meanwhile.
 */
export async function enqueueRestore(
  db: Queryable,
  cinder: TargetStatusCinder | null,
  req: EnqueueRestoreRequest,
  logger: Logger = silentLogger,
): Promise<Job | null> {
  const payload = { ...req.job.payload, targetVolume: req.target };
  if (!req.setMaintenance) {
    return enqueueJob(db, { ...req.job, kind: 'restore', payload });
  }
  if (cinder === null) {
    throw new AppError(
      'OPENSTACK_UNAVAILABLE',
      'holding the restore target in maintenance needs Cinder, and no OpenStack is configured',
    );
  }
  const t = req.target;
  const log = logger.child({ component: 'enqueue-restore', targetVolumeId: t.id });
  let held;
  try {
    held = await enqueueHeldRestore(
      db,
      { ...req.job, payload },
      { volumeId: t.id, previousStatus: t.status },
    );
  } catch (err) {
    if ((err as { constraint?: unknown }).constraint === OPEN_HOLD_INDEX) {
      throw new AppError('TARGET_IN_USE', `another restore onto volume ${t.id} is under way`, {
        cause: err,
      });
    }
    throw err;
  }
  if (held === null) return null;
  const { job, hold } = held;

  /** Ends the held job and puts back what may have changed (best effort: else the leader). */
  const giveUp = async (error: AppError, changed: boolean): Promise<never> => {
    await failHeldJob(db, job.id, error.code, error.message);
    try {
      if (changed) await releaseHold(db, cinder, hold, log);
      else await releaseHold(db, null, hold, log, 'Cinder refused maintenance: nothing changed');
    } catch (err) {
      log.warn({ err, holdId: hold.id }, 'target not put back yet; the leader will retry');
    }
    throw error;
  };

  try {
    await cinder.resetStatus(t.id, 'maintenance');
  } catch (err) {
    return giveUp(maintenanceFailed(t.id, err), !refusedOutright(err));
  }
  let seen: TargetVolumeFacts | null;
  try {
    seen = await cinder.lookup(t.id);
  } catch (err) {
    return giveUp(maintenanceFailed(t.id, err), true);
  }
  const problem = heldTargetProblem(seen, t);
  if (problem !== null) {
    return giveUp(new AppError('TARGET_REFUSED', problem, { retryable: false }), true);
  }
  const setAt = new Date().toISOString();
  const released = await markHoldSet(db, hold.id, {
    [MAINTENANCE_PAYLOAD_KEY]: {
      status: 'maintenance',
      previousStatus: t.status,
      setAt,
      holdId: hold.id,
    },
  });
  if (released === null) {
    // Cancelled while held, or a leader gave up waiting: the leader puts the target back.
    throw new AppError(
      'TARGET_MAINTENANCE_FAILED',
      `restore job ${job.id} ended before its target ${t.id} was held; not started`,
    );
  }
  await appendEvent(db, {
    kind: 'restore.target-maintenance',
    jobId: job.id,
    volumeId: t.id,
    message: `target volume ${t.id}: ${t.status} → maintenance for restore job ${job.id}`,
    data: { holdId: hold.id, previousStatus: t.status, sourceVolumeId: job.volumeId },
  });
  log.info({ jobId: job.id, holdId: hold.id }, 'restore target held in maintenance');
  return released;
}
