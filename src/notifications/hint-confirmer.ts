/**
 * Settles the bus's hints (volume_hints) against the Cinder API: takes the due ones under a
 * lease, reads each volume (`GET /volumes/{id}` with the service's token), at most
 * `concurrency` at once and `ratePerSecond` in all, and writes what Cinder says: the API's
 * view of the volume with its policy (a 404: the volume is gone), then the backups the
 * hinted events asked for, decided like any event trigger with the confirmed volume. A
 * claim Cinder does not confirm is simply dropped: the row already holds Cinder's word.
 *
 * Runs on every controller (the lease shares the work), woken after a batch that recorded
 * hints and every `intervalMs` for retries. A lookup that fails keeps the hint, due again
 * after a growing pause.
 */
import type pg from 'pg';
import { withTransaction } from '../db/pool.js';
import { lockVolumeRecords } from '../db/volume-batch.js';
import {
  claimDueHints,
  lockHintClaims,
  postponeHint,
  releaseHints,
  settleHints,
  type ClaimedHint,
} from '../db/volume-hints.js';
import {
  markVolumesDeletedAt,
  recordPolicies,
  upsertVolumesFromApi,
  type InventoryVolume,
} from '../db/volumes.js';
import { isRetryable } from '../errors.js';
import type { ChangedVolumesLookup } from '../inventory/cinder-changed-volumes.js';
import type { VolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { enqueueEventBackup, lockQuotasForBackups } from '../jobs/enqueue-backup.js';
import { jitteredBackoff } from '../lifecycle/backoff.js';
import { OpenStackApiError } from '../openstack/api-error.js';
import { silentLogger, type Logger } from '../log.js';
import { parsePolicy, type PolicyLimits } from '../policy/policy.js';
import { NO_PROJECT_QUOTA, type ProjectQuota } from '../policy/project-quota.js';
import { isTriggerEvent } from '../policy/trigger-events.js';

export interface HintConfirmerOptions {
  pool: pg.Pool;
  lookup: VolumeLookup;
  limits: PolicyLimits;
  /** Lookups in flight at once (default 4). */
  concurrency?: number;
  /** Lookups per second at most, all workers together (default 20). */
  ratePerSecond?: number;
  /** Hints taken per round (default 100). */
  batchSize?: number;
  /** Look for due hints at least this often (default 5 s). */
  intervalMs?: number;
  /** How long a taken hint is hidden from other controllers (default 60 s). */
  leaseSeconds?: number;
  /** Events older than this trigger no backup (default 3600 s). */
  triggerMaxAgeSeconds?: number;
  retryAfterSeconds?: number;
  /** The operator's per-project byte quota, which event triggers obey too (default: none). */
  quota?: ProjectQuota;
  /**
   * Reads the volumes Cinder changed since a time in one paginated list. When a round has
   * taken at least `listFrom` hints, their volumes are read from it (each page one read
   * under the rate limit) and only those it leaves out (deleted, or not updated since the
   * hint's event) are read one by one. Absent: one read per volume.
   */
  listChanged?: ChangedVolumesLookup;
  /** Hints a round must hold for a list read (default 20). */
  listFrom?: number;
  /** Hints taken per round when list reads are on (default 500: a page holds 1,000). */
  listBatchSize?: number;
  /** How far before a hint's event Cinder's updated_at may lie (clock skew; default 60 s). */
  listSkewSeconds?: number;
  logger?: Logger;
  now?: () => Date;
}

export interface HintConfirmerStats {
  lookups: number;
  confirmedVolumes: number;
  goneVolumes: number;
  /** Hints whose claim differed from what Cinder said (a forged or outdated message). */
  contradicted: number;
  lookupFailures: number;
  /** Pages of changed volumes read (each one request under the rate limit). */
  listPages: number;
  /** Hints settled from a list page instead of a read of their own. */
  listed: number;
  /** Rounds whose settle failed retryably (a deadlock) and was tried once more. */
  settleRetries: number;
  jobs: number;
}

/** Cinder's answer for one hint: the volume (null: gone) and when it was asked. */
interface Answer {
  h: ClaimedHint;
  v: InventoryVolume | null;
  askedAt: Date;
}

/** Whether the API's view shows what the hint claimed (for the log and the stats). */
function claimHeld(claims: Record<string, unknown>, v: InventoryVolume | null): boolean {
  if (claims['gone'] === true) return v === null;
  if (v === null) return false;
  const md = claims['metadata'];
  const sameMd =
    md === undefined ||
    (typeof md === 'object' &&
      md !== null &&
      Object.keys(md).length === Object.keys(v.metadata).length &&
      Object.entries(md).every(([k, x]) => v.metadata[k] === x));
  return (
    sameMd &&
    (claims['status'] === undefined || claims['status'] === v.status) &&
    (claims['host'] === undefined || claims['host'] === v.host) &&
    (claims['project_id'] === undefined || claims['project_id'] === v.projectId)
  );
}

export class HintConfirmer {
  readonly stats: HintConfirmerStats = {
    lookups: 0,
    confirmedVolumes: 0,
    goneVolumes: 0,
    contradicted: 0,
    lookupFailures: 0,
    listPages: 0,
    listed: 0,
    settleRetries: 0,
    jobs: 0,
  };
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** Earliest time the next lookup may start (the rate limit). */
  private nextSlot = 0;
  /** Off once Cinder refused a list read (no 3.60: a cloud older than Ussuri). */
  private listing = true;

  constructor(private readonly o: HintConfirmerOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'hint-confirmer' });
  }

  start(): void {
    const every = this.o.intervalMs ?? 5000;
    this.timer = setInterval(() => this.kick(), every);
    this.timer.unref();
    this.kick();
  }

  /** Looks for due hints now (or right after the round in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          while (!this.stopped && (await this.round()) > 0);
        } while (this.again && !this.stopped);
      } catch (err) {
        this.log.warn({ err }, 'hint round failed; will try again');
      } finally {
        this.running = null;
      }
    })();
  }

  /**
   * One round: takes due hints, reads their volumes (from one list of the volumes changed
   * since their events when there are many, otherwise or for those it leaves out one by
   * one, a few at once; every request rate-limited), then writes every answer in one short
   * transaction of a few set-wise statements (in the order of settle: volume rows, then
   * hint rows, each in id order as the notification batches lock them, then the projects'
   * quota locks in key order, then jobs), so the confirmer holds no row a batch waits for
   * longer than those statements, and the two never deadlock. A settle that fails with a
   * retryable error (40P01) is tried once more; if that fails too, the hints are due again
   * after 5 s instead of after the lease. How many were taken.
   */
  async round(): Promise<number> {
    const byList = this.o.listChanged !== undefined && this.listing;
    const claimed = await claimDueHints(
      this.o.pool,
      byList ? (this.o.listBatchSize ?? 500) : (this.o.batchSize ?? 100),
      this.o.leaseSeconds ?? 60,
    );
    const answers = await this.askByList(claimed);
    const alone = claimed.filter((h) => !answers.some((a) => a.h === h));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < alone.length && !this.stopped) {
        const h = alone[next++] as ClaimedHint;
        const a = await this.ask(h);
        if (a !== undefined) answers.push(a);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.o.concurrency ?? 4) }, worker));
    if (answers.length === 0) return claimed.length;
    answers.sort((a, b) =>
      a.h.volumeId < b.h.volumeId ? -1 : a.h.volumeId > b.h.volumeId ? 1 : 0,
    );
    const clock = this.o.now ?? (() => new Date());
    for (let attempt = 1; ; attempt++) {
      try {
        const jobs = await withTransaction(this.o.pool, (client) =>
          this.settle(client, answers, clock()),
        );
        this.stats.jobs += jobs;
        return claimed.length;
      } catch (err) {
        if (attempt < 2 && isRetryable(err)) {
          this.stats.settleRetries += 1;
          this.log.warn({ err }, 'settling a round failed; trying it once more');
          // A short pause first: the transaction that won the deadlock is woken to take the
          // row it waited for, and a retry at once could take that row before it and close
          // the same cycle again (seen in hint-confirmer-locks.test.ts under load).
          await new Promise((res) => setTimeout(res, 200 + Math.random() * 200));
          continue;
        }
        // Not left to the lease (a minute): the hints are due again after a short pause.
        await releaseHints(
          this.o.pool,
          answers.map((a) => a.h.volumeId),
          5,
          `settling failed: ${(err as Error).message}`,
        ).catch(() => undefined);
        throw err;
      }
    }
  }

  private async rateSlot(): Promise<void> {
    const gap = 1000 / Math.max(0.001, this.o.ratePerSecond ?? 20);
    const now = Date.now();
    const at = Math.max(now, this.nextSlot);
    this.nextSlot = at + gap;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  }

  /**
   * The answers a list of the volumes changed since the oldest hint's event (less the skew)
   * gives: one for each hint whose volume it shows. None when the round is small, or the
   * list read fails (then every volume is read alone).
   */
  private async askByList(claimed: readonly ClaimedHint[]): Promise<Answer[]> {
    const list = this.o.listChanged;
    if (list === undefined || !this.listing || claimed.length < (this.o.listFrom ?? 20)) return [];
    const clock = this.o.now ?? (() => new Date());
    const skewMs = (this.o.listSkewSeconds ?? 60) * 1000;
    const askedAt = clock();
    // A hint dated long ago (a forged event) must not make every round list the whole cloud.
    const floor = askedAt.getTime() - 10 * skewMs;
    const oldest = Math.min(...claimed.map((h) => h.eventAt.getTime()));
    const since = new Date(Math.max(floor, oldest - skewMs));
    let changed: Map<string, InventoryVolume>;
    try {
      changed = await list(since, async () => {
        await this.rateSlot();
        this.stats.listPages += 1;
      });
    } catch (err) {
      const status = err instanceof OpenStackApiError ? err.status : null;
      if (status === 400 || status === 404 || status === 406) {
        this.listing = false;
        this.log.warn(
          { err },
          'Cinder refuses the list of changed volumes; reading them one by one',
        );
      } else {
        this.log.warn({ err }, 'list of changed volumes failed; reading them one by one');
      }
      return [];
    }
    const out: Answer[] = [];
    for (const h of claimed) {
      const v = changed.get(h.volumeId.toLowerCase());
      if (v !== undefined) out.push({ h, v, askedAt });
    }
    this.stats.listed += out.length;
    return out;
  }

  /** Reads one hinted volume; undefined when the read failed (the hint is postponed). */
  private async ask(h: ClaimedHint): Promise<Answer | undefined> {
    const clock = this.o.now ?? (() => new Date());
    await this.rateSlot();
    const askedAt = clock();
    try {
      this.stats.lookups += 1;
      return { h, v: await this.o.lookup(h.volumeId), askedAt };
    } catch (err) {
      this.stats.lookupFailures += 1;
      const wait = Math.round(jitteredBackoff(h.attempts, { base: 5, cap: 600 }));
      const why = `${isRetryable(err) ? '' : 'permanent: '}${(err as Error).message}`;
      await postponeHint(this.o.pool, h.volumeId, wait, why);
      this.log.warn({ volumeId: h.volumeId, err, retryInS: wait }, 'hint lookup failed');
      return undefined;
    }
  }

  /**
   * Writes Cinder's answers of a round (in volume id order) in the caller's transaction:
   * locks the volumes' rows, then the hints', writes the confirmed volumes with their
   * policies and marks the gone ones deleted, removes the settled hints, takes the quota
   * locks of the projects it may enqueue backups of, then makes the backups the hinted
   * events asked for (through the quota, as every enqueuer). Jobs made.
   */
  private async settle(
    client: pg.PoolClient,
    answers: readonly Answer[],
    now: Date,
  ): Promise<number> {
    const ids = answers.map((a) => a.h.volumeId);
    const rows = await lockVolumeRecords(client, ids);
    const claims = await lockHintClaims(client, ids);
    const live: { h: ClaimedHint; v: InventoryVolume; askedAt: Date }[] = [];
    for (const a of answers) if (a.v !== null) live.push({ h: a.h, v: a.v, askedAt: a.askedAt });
    await upsertVolumesFromApi(
      client,
      live.map((a) => ({ volume: a.v, at: a.askedAt })),
    );
    await recordPolicies(
      client,
      live.map((a) => ({ volumeId: a.v.id, result: parsePolicy(a.v.metadata, this.o.limits) })),
      now,
    );
    const gone = await markVolumesDeletedAt(
      client,
      answers
        .filter((a) => a.v === null && rows.has(a.h.volumeId.toLowerCase()))
        .map((a) => ({ id: a.h.volumeId, at: a.askedAt })),
      { liveOnly: true },
    );
    await settleHints(
      client,
      answers.map((a) => a.h),
    );
    // Every row is locked; now the quota locks of the projects whose backups the round may
    // enqueue, all at once in key order (lockQuotasForBackups), before the first enqueue.
    // Taken one by one as the triggers come, two rounds (two controllers) or a round and a
    // consumer's batch could each hold a project the other waits for (40P01).
    // test/notifications/hint-confirmer-locks.test.ts.
    await lockQuotasForBackups(
      client,
      live.flatMap((a) => (a.h.triggers.length > 0 ? [a.v.projectId] : [])),
      this.o.quota ?? NO_PROJECT_QUOTA,
    );
    let made = 0;
    for (const a of live) made += (await this.triggerBackups(client, a.h, now)).length;
    this.stats.confirmedVolumes += live.length;
    this.stats.goneVolumes += gone.length;
    for (const a of answers) {
      if (claimHeld(claims.get(a.h.volumeId.toLowerCase()) ?? {}, a.v)) continue;
      this.stats.contradicted += 1;
      this.log.info(
        { volumeId: a.h.volumeId, gone: a.v === null },
        'Cinder contradicts what the bus said of a volume; Cinder’s view kept',
      );
    }
    return made;
  }

  /** The backups the hinted events asked for, with the volume as Cinder shows it now. */
  private async triggerBackups(
    client: pg.PoolClient,
    h: ClaimedHint,
    now: Date,
  ): Promise<number[]> {
    const made: number[] = [];
    const seen = new Set<string>();
    for (const t of h.triggers) {
      if (!isTriggerEvent(t.trigger) || seen.has(t.trigger)) continue;
      seen.add(t.trigger);
      const r = await enqueueEventBackup(
        client,
        h.volumeId,
        t.eventType,
        {
          trigger: t.trigger,
          eventAt: new Date(t.eventAt),
          maxAgeSeconds: this.o.triggerMaxAgeSeconds ?? 3600,
        },
        now,
        {
          limits: this.o.limits,
          // An interval schedule does not depend on the zone.
          timeZone: 'UTC',
          retryAfterSeconds: this.o.retryAfterSeconds ?? 3600,
          quota: this.o.quota ?? NO_PROJECT_QUOTA,
        },
      );
      if (r.job !== null) made.push(r.job.id);
      else {
        // Said, so a trigger that makes no backup can be traced (issue 11: after Postgres
        // faults, hinted detach triggers made no jobs and nothing said why).
        this.log.info(
          { volumeId: h.volumeId, trigger: t.trigger, eventType: t.eventType, reason: r.reason },
          'a confirmed trigger makes no backup',
        );
      }
    }
    return made;
  }

  /** Stops the timer and waits for the round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.running;
    this.log.info({ ...this.stats }, 'hint confirmer stopped');
  }
}
