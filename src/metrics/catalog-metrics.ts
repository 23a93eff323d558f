/**
 * Figures computed from the catalog in Postgres when Prometheus scrapes: every controller
 * answers the same, whichever one is scraped. One scrape runs each query once (a snapshot
 * shared by the metrics that need it).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { listAgentHeartbeats } from '../db/agent-heartbeats.js';
import { backupFigureBuckets, countBackupOutcomes } from '../db/backups.js';
import { loadOrphanFigures } from '../db/orphan-figures.js';
import type { Queryable } from '../db/queryable.js';
import { listVolumeBackupAges } from '../db/volumes.js';
import { countOpenJobsByKind } from '../jobs/queue.js';
import { CatalogHistogram } from './catalog-histogram.js';

export interface CatalogMetricsOptions {
  db: Queryable;
  registry: Registry;
  /** Grace after a due time before a volume counts as overdue (s); default 3600. */
  overdueGraceSeconds?: number;
  /** Agents not heard from for this long are left out (s); default 1 day. */
  agentWindowSeconds?: number;
}

/** Loads once per scrape: the metrics of one scrape share the result. */
class PerScrape {
  private readonly caches: (() => void)[] = [];

  /** Forgets every load: the next scrape reads the catalog again. */
  begin(): void {
    for (const clear of this.caches) clear();
  }

  shared<T>(load: () => Promise<T>): () => Promise<T> {
    let value: Promise<T> | null = null;
    this.caches.push(() => {
      value = null;
    });
    return () => (value ??= load());
  }
}

export const DURATION_BUCKETS = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400, 28_800];
export const THROUGHPUT_BUCKETS = [1, 5, 10, 25, 50, 100, 200, 400, 800].map((m) => m * 1_048_576);
export const SNAPSHOT_BUCKETS = [1, 5, 10, 25, 50, 75, 90, 95, 99];

/** Registers the catalog metrics; call the returned function before each scrape. */
export function registerCatalogMetrics(o: CatalogMetricsOptions): () => void {
  const { db, registry } = o;
  const scrape = new PerScrape();
  const shared = <T>(load: () => Promise<T>) => scrape.shared(load);
  const grace = o.overdueGraceSeconds ?? 3600;
  const outcomes = shared(() => countBackupOutcomes(db));
  const volumes = shared(() => listVolumeBackupAges(db, grace));

  new Counter({
    name: 'clb_backups_total',
    help: 'Finished backups by outcome (succeeded, failed, cancelled), trigger and error code',
    labelNames: ['outcome', 'trigger', 'error_code'],
    registers: [registry],
    async collect() {
      const rows = await outcomes();
      this.reset();
      for (const r of rows) {
        this.inc({ outcome: r.outcome, trigger: r.trigger, error_code: r.errorCode }, r.count);
      }
    },
  });
  new Counter({
    name: 'clb_backup_read_bytes_total',
    help: 'Bytes read from volumes (into the compressor) by successful backups',
    registers: [registry],
    async collect() {
      const rows = await outcomes();
      this.reset();
      this.inc(rows.filter((r) => r.outcome === 'succeeded').reduce((s, r) => s + r.bytesRead, 0));
    },
  });
  new Counter({
    name: 'clb_backup_stored_bytes_total',
    help: 'Bytes stored by successful backups (compressed archives)',
    registers: [registry],
    async collect() {
      const rows = await outcomes();
      this.reset();
      this.inc(
        rows.filter((r) => r.outcome === 'succeeded').reduce((s, r) => s + r.bytesStored, 0),
      );
    },
  });
  new CatalogHistogram({
    name: 'clb_backup_duration_seconds',
    help: 'Wall time of successful backups',
    buckets: DURATION_BUCKETS,
    registry,
    load: (b) => backupFigureBuckets(db, 'duration', b),
  });
  new CatalogHistogram({
    name: 'clb_backup_throughput_bytes_per_second',
    help: 'Throughput of successful backups (bytes read / wall time)',
    buckets: THROUGHPUT_BUCKETS,
    registry,
    load: (b) => backupFigureBuckets(db, 'throughput', b),
  });
  new CatalogHistogram({
    name: 'clb_backup_snapshot_peak_percent',
    help: 'Peak usage of the snapshot (COW or thin data %) during successful backups',
    buckets: SNAPSHOT_BUCKETS,
    registry,
    load: (b) => backupFigureBuckets(db, 'snapshotPeak', b),
  });

  new Gauge({
    name: 'clb_volume_last_success_age_seconds',
    help: 'Seconds since the last successful backup of each tagged volume (absent: never)',
    labelNames: ['volume_id', 'project_id'],
    registers: [registry],
    async collect() {
      const rows = await volumes();
      this.reset();
      for (const v of rows) {
        if (v.lastSuccessAgeSeconds !== null) {
          this.set({ volume_id: v.id, project_id: v.projectId }, v.lastSuccessAgeSeconds);
        }
      }
    },
  });
  new Gauge({
    name: 'clb_volume_oldest_last_success_age_seconds',
    help: 'The oldest of the tagged volumes’ last successful backups, in seconds (0: none)',
    registers: [registry],
    async collect() {
      const ages = (await volumes())
        .map((v) => v.lastSuccessAgeSeconds)
        .filter((a): a is number => a !== null);
      this.set(ages.length === 0 ? 0 : Math.max(...ages));
    },
  });
  new Gauge({
    name: 'clb_volumes',
    help: 'Tagged volumes by state: tagged (all), never_backed_up, overdue, policy_error, over_quota (their project is at or over its byte quota)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const rows = await volumes();
      this.set({ state: 'tagged' }, rows.length);
      this.set(
        { state: 'never_backed_up' },
        rows.filter((v) => v.lastSuccessAgeSeconds === null && !v.policyError).length,
      );
      this.set({ state: 'overdue' }, rows.filter((v) => v.overdue).length);
      this.set({ state: 'policy_error' }, rows.filter((v) => v.policyError).length);
      this.set({ state: 'over_quota' }, rows.filter((v) => v.overQuota).length);
    },
  });
  new Gauge({
    name: 'clb_jobs',
    help: 'Open jobs (the queue depth) by kind and state',
    labelNames: ['kind', 'state'],
    registers: [registry],
    async collect() {
      const rows = await countOpenJobsByKind(db);
      this.reset();
      for (const kind of ['backup', 'verify', 'restore', 'prune']) {
        for (const state of ['queued', 'running']) {
          const n = rows.find((r) => r.kind === kind && r.state === state)?.count ?? 0;
          this.set({ kind, state }, n);
        }
      }
    },
  });
  const agents = shared(() => listAgentHeartbeats(db, o.agentWindowSeconds ?? 86_400));
  new Gauge({
    name: 'clb_agent_last_heartbeat_timestamp_seconds',
    help: 'When each storage-node agent last reported alive (Unix time); agents seen in a day',
    labelNames: ['agent', 'running'],
    registers: [registry],
    async collect() {
      const rows = await agents();
      this.reset();
      for (const a of rows) {
        this.set(
          { agent: a.agentId, running: a.stoppedAt === null ? 'true' : 'false' },
          a.lastSeenAt.getTime() / 1000,
        );
      }
    },
  });
  new Gauge({
    name: 'clb_agents_seen',
    help: 'Agents that reported alive within the last 5 minutes and have not stopped',
    registers: [registry],
    async collect() {
      const cutoff = Date.now() - 300_000;
      const rows = await agents();
      this.set(rows.filter((a) => a.stoppedAt === null && a.lastSeenAt.getTime() > cutoff).length);
    },
  });
  const orphans = shared(() => loadOrphanFigures(db));
  new Counter({
    name: 'clb_orphan_backups_pruned_total',
    help: 'Backups pruned because their volume was deleted or switched off past the grace',
    registers: [registry],
    async collect() {
      const f = await orphans();
      this.reset();
      this.inc(f.prunedGone);
    },
  });
  new Counter({
    name: 'clb_orphan_prune_refusals_total',
    help: 'Failed prunes of gone or moved volumes’ backups by error code (PRUNE_WRONG_HOST: asked of a host that does not hold them)',
    labelNames: ['code'],
    registers: [registry],
    async collect() {
      const f = await orphans();
      this.reset();
      for (const r of f.refusals) this.inc({ code: r.code }, r.count);
    },
  });
  new Gauge({
    name: 'clb_stranded_backups',
    help: 'Backups held by a host other than their volume’s whose agent was not seen for a day (stranded_backups)',
    registers: [registry],
    async collect() {
      this.set((await orphans()).stranded);
    },
  });
  return () => scrape.begin();
}
