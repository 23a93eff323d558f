/**
 * The Cinder inventory poller: reads every volume (`GET /volumes/detail?all_tenants=1`, page
 * by page to the end), then writes the whole view in one transaction: upserts, and
 * `deleted_at` for what Cinder no longer lists. A poll that fails anywhere (Keystone down,
 * 5xx/429/timeouts after their retries, a non-admin token) writes nothing, so the inventory
 * is never wiped by an outage.
 */
import type pg from 'pg';
import { withTransaction } from '../db/pool.js';
import { AppError, toAppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { OpenStackApiError } from '../openstack/api-error.js';
import type { CinderClient } from '../openstack/cinder.js';
import {
  lockInventoryWrites,
  countLiveVolumes,
  markVolumesDeleted,
  unseenVolumeIds,
  upsertPolledVolumes,
  type PolledVolume,
} from '../db/volumes.js';
import { HOST_ATTR, inventoryVolumeOf } from './volume-from-cinder.js';
import { PeriodicTask } from '../lifecycle/periodic-task.js';

export interface PollOptions {
  pool: pg.Pool;
  cinder: CinderClient;
  logger?: Logger;
  /** Volumes per request; Cinder caps it at osapi_max_limit (1000 by default). */
  pageSize?: number;
  /** Listing restarts when the marker volume vanished mid-poll (Cinder answers 404). */
  maxRestarts?: number;
  now?: () => Date;
  signal?: AbortSignal;
  /**
   * A poll that would mark more than `fraction` of the live inventory (and at least
   * `minCount` volumes) deleted holds those deletions until the next poll confirms them:
   * a Cinder that answers 200 with a short list (a broken DB, a wrong region) must not
   * wipe the inventory in one go. Default 0.5 and 20.
   */
  massDeletion?: { fraction: number; minCount: number };
  /** Deletions a previous poll held; those seen missing again are applied now. */
  confirmedDeletions?: ReadonlySet<string>;
}

export interface PollResult {
  /** Volumes Cinder listed (after de-duplication). */
  volumes: number;
  pages: number;
  inserted: number;
  changed: number;
  /** Ids of the rows counted in `changed`. */
  changedIds: string[];
  /** Rows left alone because an event updated them after their page was fetched. */
  stale: number;
  deleted: string[];
  /** Missing volumes not marked deleted yet: a mass deletion awaiting the next poll. */
  heldDeletions: string[];
  /** Volumes Cinder listed that could not be mapped, with why (they are not marked gone). */
  skipped: { id: string | null; reason: string }[];
  fetchMs: number;
  writeMs: number;
}

interface Fetched {
  rows: Map<string, PolledVolume>;
  skipped: { id: string | null; reason: string }[];
  /** Ids Cinder listed that could not be mapped: not gone, whatever their row says. */
  unmappedIds: string[];
  pages: number;
}

async function fetchAll(opts: PollOptions, now: () => Date): Promise<Fetched> {
  const maxRestarts = opts.maxRestarts ?? 3;
  for (let restart = 0; ; restart++) {
    const out: Fetched = { rows: new Map(), skipped: [], unmappedIds: [], pages: 0 };
    let marker: string | null = null;
    try {
      const markers = new Set<string>();
      for (;;) {
        const seenAt = now();
        const page = await opts.cinder.listVolumesPage({
          marker,
          ...(opts.pageSize === undefined ? {} : { limit: opts.pageSize }),
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        });
        out.pages += 1;
        for (const raw of page.volumes) {
          const m = inventoryVolumeOf(raw);
          if (m.ok) {
            out.rows.set(m.value.id, { volume: m.value, seenAt });
            continue;
          }
          if (m.reason.startsWith(HOST_ATTR)) {
            // Without the admin role Cinder silently lists one project only: reconciling
            // that would mark every other project's volumes deleted.
            throw new AppError(
              'OPENSTACK_API_ERROR',
              `Cinder hides ${HOST_ATTR} from these credentials: they lack the admin role, so ` +
                'all_tenants=1 is ignored and the inventory cannot be polled (nothing was changed)',
            );
          }
          out.skipped.push({ id: m.id, reason: m.reason });
          if (m.id !== null) out.unmappedIds.push(m.id);
        }
        if (page.nextMarker === null) return out;
        if (markers.has(page.nextMarker)) {
          throw new AppError(
            'OPENSTACK_API_ERROR',
            `Cinder pagination loops at marker ${page.nextMarker}`,
          );
        }
        markers.add(page.nextMarker);
        marker = page.nextMarker;
      }
    } catch (err) {
      // A 404 on a later page means the marker volume was deleted meanwhile.
      const markerGone = marker !== null && err instanceof OpenStackApiError && err.status === 404;
      if (!markerGone || restart >= maxRestarts) throw err;
      (opts.logger ?? silentLogger).warn(
        { restart: restart + 1 },
        'the marker volume vanished during the listing (404); listing again from the start',
      );
    }
  }
}

/** One full poll. Throws an AppError (and changes nothing) when any part fails. */
export async function pollInventory(opts: PollOptions): Promise<PollResult> {
  const logger = (opts.logger ?? silentLogger).child({ component: 'inventory-poller' });
  const now = opts.now ?? (() => new Date());
  const pollStartedAt = now();
  const t0 = performance.now();
  let fetched: Fetched;
  try {
    fetched = await fetchAll({ ...opts, logger }, now);
  } catch (err) {
    const e = toAppError(err, 'OPENSTACK_API_ERROR');
    throw new AppError(e.code, `inventory poll failed, inventory left unchanged: ${e.message}`, {
      cause: e,
      retryable: e.retryable,
    });
  }
  const t1 = performance.now();
  const rows = [...fetched.rows.values()];

  const result = await withTransaction(opts.pool, async (client) => {
    await lockInventoryWrites(client);
    const outcomes = await upsertPolledVolumes(client, rows);
    const liveBefore = await countLiveVolumes(client);
    // Listed but not mappable (a volume still 'creating', without a host): not gone. Their
    // rows keep their seen_at: moving it would make the events that follow look older
    // than the row, and they would be dropped as stale (a row stuck in 'creating', a
    // detach trigger lost; seen in test/reliability/postgres-faults.test.ts).
    const listed = new Set(fetched.unmappedIds);
    const missing = (await unseenVolumeIds(client, pollStartedAt)).filter((id) => !listed.has(id));
    const guard = opts.massDeletion ?? { fraction: 0.5, minCount: 20 };
    const mass = missing.length >= guard.minCount && missing.length > guard.fraction * liveBefore;
    const confirmed = opts.confirmedDeletions ?? new Set<string>();
    const apply = mass ? missing.filter((id) => confirmed.has(id)) : missing;
    const held = mass ? missing.filter((id) => !confirmed.has(id)) : [];
    const deleted = await markVolumesDeleted(client, apply, now());
    return { outcomes, deleted, held, liveBefore };
  });
  const t2 = performance.now();

  const out: PollResult = {
    volumes: rows.length,
    pages: fetched.pages,
    inserted: result.outcomes.filter((o) => o.inserted).length,
    changed: result.outcomes.filter((o) => o.changed).length,
    changedIds: result.outcomes.filter((o) => o.changed).map((o) => o.id),
    stale: rows.length - result.outcomes.length,
    deleted: result.deleted,
    heldDeletions: result.held,
    skipped: fetched.skipped,
    fetchMs: Math.round(t1 - t0),
    writeMs: Math.round(t2 - t1),
  };
  if (out.heldDeletions.length > 0) {
    logger.error(
      { held: out.heldDeletions.length, live: result.liveBefore },
      `Cinder no longer lists ${out.heldDeletions.length} of ${result.liveBefore} volumes: ` +
        'too many to mark deleted from one poll; they are marked if the next poll agrees',
    );
  }
  for (const s of out.skipped.slice(0, 20)) {
    logger.warn({ volumeId: s.id, reason: s.reason }, 'Cinder volume skipped: cannot be mapped');
  }
  logger.info(
    {
      volumes: out.volumes,
      pages: out.pages,
      inserted: out.inserted,
      changed: out.changed,
      stale: out.stale,
      deleted: out.deleted.length,
      held: out.heldDeletions.length,
      skipped: out.skipped.length,
      fetchMs: out.fetchMs,
      writeMs: out.writeMs,
    },
    'inventory poll done',
  );
  return out;
}

/** Settings of the poller loop. */
export interface InventoryPollerOptions extends Omit<PollOptions, 'signal'> {
  intervalSeconds: number;
  /** Runs after each successful poll, outside its transaction (e.g. a scheduler pass). */
  onPolled?: (result: PollResult) => Promise<void>;
  /** Told of every poll's end: its duration, its error code (null: ok), volumes listed. */
  onPollFinished?: (seconds: number, errorCode: string | null, volumes: number | null) => void;
}

/**
 * Polls every `intervalSeconds` (after the previous poll ends) until stopped. Shaped as the
 * controller's LeaderService (`name`, `start`, `stop`).
 */
export class InventoryPoller {
  readonly name = 'inventory poller';
  private loop: PeriodicTask | null = null;
  private running: Promise<PollResult> | null = null;
  private abort = new AbortController();
  lastResult: PollResult | null = null;
  lastError: AppError | null = null;
  lastSuccessAt: Date | null = null;
  private readonly logger: Logger;

  constructor(private readonly opts: InventoryPollerOptions) {
    this.logger = (opts.logger ?? silentLogger).child({ component: 'inventory-poller' });
  }

  /** Starts polling now and then every interval. */
  start(): void {
    if (this.loop !== null) return;
    this.abort = new AbortController();
    this.loop = new PeriodicTask(
      this.name,
      this.opts.intervalSeconds,
      () => this.pollThenHook(),
      this.logger,
    );
    this.loop.start();
  }

  /** Runs a poll now, or joins the one under way. */
  pollNow(): Promise<PollResult> {
    const confirmedDeletions = new Set(this.lastResult?.heldDeletions ?? []);
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    this.running ??= pollInventory({ ...this.opts, confirmedDeletions, signal: this.abort.signal })
      .then((r) => {
        this.lastResult = r;
        this.lastError = null;
        this.lastSuccessAt = new Date();
        this.opts.onPollFinished?.(seconds(), null, r.volumes);
        return r;
      })
      .catch((err: unknown) => {
        const e = toAppError(err);
        this.lastError = e;
        this.opts.onPollFinished?.(seconds(), e.code, null);
        throw e;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Aborts a poll under way (its transaction never starts), stops the loop and waits. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.loop = null;
    this.abort.abort(new AppError('ABORTED', 'the inventory poller is stopping'));
    await loop?.stop();
    await this.running?.catch(() => undefined);
  }

  /** One turn of the loop: a poll, then the hook; a failed hook does not fail the poll. */
  private async pollThenHook(): Promise<void> {
    const r = await this.pollNow();
    try {
      await this.opts.onPolled?.(r);
    } catch (err) {
      this.logger.error({ err }, 'after-poll hook failed');
    }
  }
}
