/**
 * What one controller process counts itself: notifications it consumed and dead-lettered
 * (and how late they came), and inventory polls (duration, errors). Prometheus adds them up
 * across controllers. Also the process's own figures (CPU, memory, event loop).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ControllerMetrics {
  /** A notification handled: its disposition and, for applied ones, the outcome. */
  notificationHandled(
    action: 'ack' | 'retry' | 'dead-letter',
    outcome: string,
    eventAt: Date | null,
  ): void;
  notificationDeadLettered(): void;
  /** An inventory poll ended (ok or not) after `seconds`. */
  pollFinished(seconds: number, errorCode: string | null, volumes: number | null): void;
  /** The orphan pass (src/jobs/orphan-pass.ts) ended at `at` with these figures. */
  orphanPassFinished(figures: OrphanPassFigures, at: Date): void;
}

/** What one orphan pass counted (a subset of its result). */
export interface OrphanPassFigures {
  /** Deleted or switched-off volumes holding backups: the volumes it considered. */
  volumes: number;
  inGrace: number;
  due: number;
  /** Prunes of gone volumes' backups it queued. */
  enqueued: number;
  /** Due volumes held back a day after a failed (refused) prune. */
  heldAfterFailure: number;
  /** Retention prunes it routed to the old host of a moved volume. */
  movedEnqueued: number;
}

export function registerControllerMetrics(registry: Registry): ControllerMetrics {
  collectDefaultMetrics({ register: registry, prefix: 'clb_process_' });
  const consumed = new Counter({
    name: 'clb_notifications_consumed_total',
    help: 'Notifications this controller handled, by disposition and outcome',
    labelNames: ['action', 'outcome'],
    registers: [registry],
  });
  const dead = new Counter({
    name: 'clb_notifications_dead_lettered_total',
    help: 'Notifications this controller moved to the dead-letter queue',
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'clb_notification_lag_seconds',
    help: 'From the notification’s own timestamp to its handling',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600],
    registers: [registry],
  });
  const pollDuration = new Histogram({
    name: 'clb_poll_duration_seconds',
    help: 'Duration of inventory polls (all Cinder pages and the reconciliation)',
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const pollErrors = new Counter({
    name: 'clb_poll_errors_total',
    help: 'Inventory polls that failed, by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  const pollVolumes = new Gauge({
    name: 'clb_poll_volumes',
    help: 'Volumes Cinder listed in the last successful poll',
    registers: [registry],
  });
  const orphanPasses = new Counter({
    name: 'clb_orphan_passes_total',
    help: 'Orphan passes this controller ran (as the leader)',
    registers: [registry],
  });
  const orphanLast = new Gauge({
    name: 'clb_orphan_pass_last_timestamp_seconds',
    help: 'When this controller’s last orphan pass ended (Unix time; 0: none yet)',
    registers: [registry],
  });
  const orphanVolumes = new Gauge({
    name: 'clb_orphan_pass_volumes',
    help: 'Volumes the last orphan pass considered (deleted or switched off, holding backups) by state: considered, in_grace, due, held_after_failure',
    labelNames: ['state'],
    registers: [registry],
  });
  const orphanEnqueued = new Counter({
    name: 'clb_orphan_prunes_enqueued_total',
    help: 'Prune jobs orphan passes queued: gone (a deleted or switched-off volume’s backups past the grace), moved (retention on the old host of a moved volume)',
    labelNames: ['kind'],
    registers: [registry],
  });
  return {
    orphanPassFinished(f, at) {
      orphanPasses.inc();
      orphanLast.set(at.getTime() / 1000);
      orphanVolumes.set({ state: 'considered' }, f.volumes);
      orphanVolumes.set({ state: 'in_grace' }, f.inGrace);
      orphanVolumes.set({ state: 'due' }, f.due);
      orphanVolumes.set({ state: 'held_after_failure' }, f.heldAfterFailure);
      orphanEnqueued.inc({ kind: 'gone' }, f.enqueued);
      orphanEnqueued.inc({ kind: 'moved' }, f.movedEnqueued);
    },
    notificationHandled(action, outcome, eventAt) {
      consumed.inc({ action, outcome });
      if (eventAt !== null) lag.observe(Math.max(0, (Date.now() - eventAt.getTime()) / 1000));
    },
    notificationDeadLettered() {
      dead.inc();
    },
    pollFinished(seconds, errorCode, volumes) {
      pollDuration.observe(seconds);
      if (errorCode !== null) pollErrors.inc({ code: errorCode });
      if (volumes !== null) pollVolumes.set(volumes);
    },
  };
}
