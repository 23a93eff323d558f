/**
 * The orphan pass: finds volumes that are deleted in Cinder or switched off (no policy)
 * and still hold backups, records when each one's grace ends, and once it has ended
 * queues the prune jobs that delete them, one to each backend host whose destination
 * holds some (one open prune per volume and host: a host whose agent is gone blocks no
 * other). What is decided is in src/policy/orphans.ts; the agent decides again before it
 * deletes. It also routes a retention prune to each host that holds backups of a live
 * volume that has since moved to another host (Cinder migration or retype): the volume's
 * own host prunes what it holds after each backup, and only the old host may delete the
 * rest. The controller runs it after each scheduler pass, on the leader only.
 */
import type { Queryable } from '../db/queryable.js';
import {
  clearRevivedPruneAt,
  listOrphanCandidates,
  setOrphanPruneAt,
  startPolicyOff,
} from '../db/orphaned-volumes.js';
import { listHeldElsewhere } from '../db/held-elsewhere.js';
import { silentLogger, type Logger } from '../log.js';
import { orphanState } from '../policy/orphans.js';
import { enqueueJob } from './queue.js';

/**
 * A failed prune of a gone volume (a refused host, a destination that cannot be written) is
 * tried again this long after, not at every pass: the failure stays in backup_failures and
 * the mail meanwhile.
 */
export const ORPHAN_RETRY_SECONDS = 86_400;

export interface OrphanPassResult {
  /** Deleted or switched-off volumes holding backups. */
  volumes: number;
  inGrace: number;
  due: number;
  enqueued: number;
  alreadyOpen: number;
  /** Due volumes whose last prune failed less than ORPHAN_RETRY_SECONDS ago. */
  heldAfterFailure: number;
  /** Backups of due volumes whose holding host is unknown (left alone, logged). */
  unplaced: number;
  /** Retention prunes routed to a host holding backups of a live volume that moved. */
  movedEnqueued: number;
}

/** Runs one pass at `now` with a grace of `graceSeconds`. */
export async function runOrphanPass(
  q: Queryable,
  settings: { graceSeconds: number },
  options: { now?: Date; logger?: Logger } = {},
): Promise<OrphanPassResult> {
  const now = options.now ?? new Date();
  const log = (options.logger ?? silentLogger).child({ component: 'orphan-pass' });
  await clearRevivedPruneAt(q);
  const candidates = await listOrphanCandidates(q);
  const result: OrphanPassResult = {
    volumes: candidates.length,
    inGrace: 0,
    due: 0,
    enqueued: 0,
    alreadyOpen: 0,
    heldAfterFailure: 0,
    unplaced: 0,
    movedEnqueued: 0,
  };
  // One statement each for the grace starts and the prune times: a pass runs every
  // schedule_interval over every gone volume still holding backups.
  const starts = await startPolicyOff(
    q,
    candidates
      .filter((v) => v.deletedAt === null && !v.hasPolicy && v.policyOffAt === null)
      .map((v) => v.id),
    now,
  );
  const decided = candidates.map((v) => ({
    v,
    state: orphanState(
      { ...v, policyOffAt: v.policyOffAt ?? starts.get(v.id) ?? null },
      settings.graceSeconds,
      now,
    ),
  }));
  await setOrphanPruneAt(
    q,
    decided.flatMap(({ v, state }) =>
      state.kind === 'live' ? [] : [{ id: v.id, at: state.pruneAt }],
    ),
  );
  for (const { v, state } of decided) {
    if (state.kind === 'live') continue;
    if (state.kind === 'grace') {
      result.inGrace += 1;
      continue;
    }
    result.due += 1;
    if (v.unplaced.length > 0) {
      result.unplaced += v.unplaced.length;
      log.warn(
        { volumeId: v.id, backupRowIds: v.unplaced },
        'backups of a gone volume have no known backend host; they are not pruned',
      );
    }
    for (const held of v.backupsByHost) {
      if (held.hasOpenPruneJob) {
        result.alreadyOpen += 1;
        continue;
      }
      const failedAt = held.lastFailedPruneAt?.getTime();
      if (failedAt !== undefined && now.getTime() - failedAt < ORPHAN_RETRY_SECONDS * 1000) {
        result.heldAfterFailure += 1;
        continue;
      }
      const job = await enqueueJob(q, {
        kind: 'prune',
        volumeId: v.id,
        backendHost: held.backendHost,
        lvName: v.lvName,
        reason: `orphan:${state.gone}`,
        payload: {
          orphan: { graceSeconds: settings.graceSeconds, reason: state.reason },
          backupRowIds: held.backupRowIds,
        },
      });
      if (job === null) {
        result.alreadyOpen += 1;
        continue;
      }
      result.enqueued += 1;
      log.info(
        { volumeId: v.id, jobId: job.id, backendHost: job.backendHost, reason: state.reason },
        'prune of a gone volume enqueued',
      );
    }
  }
  await routeMovedPrunes(q, result, log);
  log.debug({ ...result }, 'orphan pass done');
  return result;
}

/**
 * Queues a retention prune on each host that holds backups of a live volume now on another
 * host, when retention wants some of them gone: a prune of the volume on its own host
 * (after each backup) finished naming that host in its `heldElsewhere`, after the last
 * prune queued there. That host's agent applies the same retention and deletes only what
 * it holds. A host whose agent is gone leaves its job queued, blocking nothing else (one
 * open prune per volume and host) and queueing no more: the `stranded_backups` view names
 * what it holds.
 */
async function routeMovedPrunes(
  q: Queryable,
  result: OrphanPassResult,
  log: Logger,
): Promise<void> {
  for (const held of await listHeldElsewhere(q)) {
    if (held.hasOpenPrune || held.lastAskedAt === null) continue;
    const queued = held.lastPruneQueuedAt;
    if (queued !== null && queued.getTime() >= held.lastAskedAt.getTime()) continue;
    const job = await enqueueJob(q, {
      kind: 'prune',
      volumeId: held.volumeId,
      backendHost: held.backendHost,
      lvName: held.lvName,
      reason: 'moved',
    });
    if (job === null) continue;
    result.movedEnqueued += 1;
    log.info(
      { volumeId: held.volumeId, jobId: job.id, backendHost: held.backendHost },
      'retention prune routed to the host that holds backups of a moved volume',
    );
  }
}
