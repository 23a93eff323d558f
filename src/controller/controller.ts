/**
 * The controller process: the notification consumer on every instance, and, on the holder
 * of the leadership lock only, the inventory poller, the scheduler and housekeeping.
 *
 * The HTTP API and /metrics (controller-http.ts) listen once the consumer runs.
 *
 * Close order (stop): what started is undone in reverse (a CleanupStack): the HTTP servers
 * stop accepting and finish their requests, the leadership stops its leader work (a pass in progress finishes) and ends its session (releasing the
 * lock), the consumer stops consuming and finishes the message in hand, its channel and
 * connection close, and last the Postgres pool.
 */
import type pg from 'pg';
import { assertSchemaCurrent } from '../db/migrate.js';
import { pruneDeadNotifications, recordDeadLetter } from '../db/dead-notifications.js';
import { createPool } from '../db/pool.js';
import { pruneProcessedNotifications } from '../db/processed-notifications.js';
import type { ChangedVolumesLookup } from '../inventory/cinder-changed-volumes.js';
import type { VolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { runOrphanPass } from '../jobs/orphan-pass.js';
import { runSchedulerPass } from '../jobs/scheduler.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { silentLogger, type Logger } from '../log.js';
import { NotificationConsumer } from '../notifications/consumer.js';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { HintConfirmer } from '../notifications/hint-confirmer.js';
import { processBatch } from '../notifications/process-batch.js';
import { mailerOptionsOf, type MailSettings } from '../report/mail-settings.js';
import { smtpMailer, type SendMail } from '../report/mailer.js';
import { ReportService } from '../report/report-service.js';
import type { KeystoneSession } from '../openstack/keystone.js';
import type { ControllerConfig } from './controller-config.js';
import { ControllerHttp, NO_COUNTERS } from './controller-http.js';
import { Leadership } from './leadership.js';
import { PollHealth } from './poll-health.js';
import { PeriodicTask } from '../lifecycle/periodic-task.js';

/** Something only the leader runs (the poller, when OpenStack is configured). */
export interface LeaderService {
  name: string;
  start(): void;
  stop(): Promise<void>;
}

export interface ControllerDeps {
  logger?: Logger;
  /** Cinder lookup for payloads that are not enough (absent: payloads alone). */
  lookup?: VolumeLookup;
  /** Cinder's list of volumes changed since a time: settles many hints per request. */
  listChanged?: ChangedVolumesLookup;
  /** Cinder's os-reset_status: the API holds a restore's target in maintenance with it. */
  resetVolumeStatus?: (volumeId: string, status: string) => Promise<void>;
  /** Builds the leader-only services that need OpenStack (the inventory poller). */
  leaderServices?: (pool: pg.Pool, hooks: LeaderHooks) => LeaderService[];
  /** Keystone for the HTTP API (validating callers' tokens); absent: the API stays off. */
  keystone?: KeystoneSession;
  /** How mail leaves (default: SMTP to config.mail.server). */
  sendMail?: SendMail;
}

/** What leader services report back to the controller. */
export interface LeaderHooks {
  afterPoll: () => Promise<void>;
  /** An inventory poll ended (for metrics). */
  pollFinished: ControllerMetrics['pollFinished'];
}

export class Controller {
  private leadership: Leadership | null = null;
  private leaderTasks: LeaderService[] = [];
  /** What start() set up, undone newest first by stop(). */
  private readonly started = new CleanupStack();
  private counters: ControllerMetrics = NO_COUNTERS;
  /** Failing inventory polls, for /readyz. */
  private readonly pollHealth = new PollHealth();
  private stopRequested = false;
  private readonly log: Logger;

  constructor(
    private readonly config: ControllerConfig,
    private readonly deps: ControllerDeps = {},
  ) {
    this.log = (deps.logger ?? silentLogger).child({ component: 'controller' });
  }

  get isLeader(): boolean {
    return this.leadership?.isLeader ?? false;
  }

  /** Starts; throws (after undoing what started) if Postgres, the schema or RabbitMQ fail. */
  async start(): Promise<void> {
    const c = this.config;
    const pool = createPool({
      url: c.databaseUrl,
      max: 6,
      applicationName: 'cinder-lvm-backup controller',
    });
    this.started.push('close the Postgres pool', () => pool.end());
    try {
      await assertSchemaCurrent(pool);
      if (this.stopRequested) return;
      const http = new ControllerHttp(c.http, pool, this.deps.logger ?? silentLogger);
      const counters = http.counters;
      this.counters = counters;
      // With a Cinder lookup, notifications are hints: what steers backups changes only
      // once Cinder confirms it. Without one (no OpenStack credentials) nothing can be
      // checked and payloads are believed, as the warning at start says.
      const lookup = this.deps.lookup;
      const confirmer =
        lookup === undefined
          ? null
          : new HintConfirmer({
              pool,
              lookup,
              ...(this.deps.listChanged === undefined
                ? {}
                : { listChanged: this.deps.listChanged }),
              limits: c.limits,
              concurrency: c.lookupConcurrency,
              ratePerSecond: c.lookupRate,
              retryAfterSeconds: c.retryAfterSeconds,
              quota: c.quota,
              logger: this.deps.logger,
            });
      if (confirmer === null) {
        this.log.warn(
          'no Cinder lookup (OpenStack not configured): notification payloads are believed as they come, including metadata, host, project and status',
        );
      } else {
        confirmer.start();
        this.started.push('stop the hint confirmer', () => confirmer.stop());
      }
      const consumer = new NotificationConsumer({
        url: c.amqpUrls,
        exchanges: c.exchanges,
        queue: c.queue,
        deadLetterQueue: c.deadLetterQueue,
        // Dead letters are kept as long as processed ids, in the queue and in Postgres.
        deadLetterBounds: { ttlSeconds: c.processedRetentionDays * 86_400, maxLength: 10_000 },
        routingKeys: c.routingKeys,
        prefetch: c.prefetch,
        logger: this.deps.logger,
        batchSize: c.batchSize,
        batchWaitMs: c.batchWaitMs,
        handleBatch: async (items) => {
          const ds = await processBatch(items, {
            pool,
            limits: c.limits,
            retryAfterSeconds: c.retryAfterSeconds,
            quota: c.quota,
            trust: c.busTrust,
            ...(lookup === undefined ? {} : { lookup }),
            confirmSteering: confirmer !== null,
            hintDelayMs: c.hintDelayMs,
            maxUnknownHints: c.maxUnknownHints,
            onHintsDropped: (ids) =>
              this.log.warn(
                { dropped: ids.length, maxUnknownHints: c.maxUnknownHints },
                'hints of volumes the inventory does not hold are at their bound; new ones dropped',
              ),
          });
          if (ds.some((d) => d.action === 'ack' && d.result.outcome === 'hinted')) {
            setTimeout(() => confirmer?.kick(), c.hintDelayMs).unref();
          }
          for (const d of ds) {
            counters.notificationHandled(
              d.action,
              d.action === 'ack' ? d.result.outcome : d.action,
              d.notification?.timestamp ?? null,
            );
          }
          return ds;
        },
        onDeadLetter: async (record) => {
          counters.notificationDeadLettered();
          await recordDeadLetter(pool, record);
        },
      });
      // Registered before it connects: a stop() while it waits for the broker ends the wait.
      this.started.push('stop the notification consumer', () => consumer.stop());
      await consumer.start();
      // stop() came while we waited for the broker: start nothing more.
      if (this.stopRequested) return;
      const leadership = new Leadership({
        databaseUrl: c.databaseUrl,
        retrySeconds: c.leaderRetrySeconds,
        logger: this.deps.logger,
        onElected: () => this.startLeaderWork(pool),
        onDeposed: () => this.stopLeaderWork(),
      });
      this.leadership = leadership;
      this.started.push('stop leader work and release the leadership', async () => {
        this.leadership = null;
        await leadership.stop();
      });
      leadership.start();
      // Last to start, first to stop: no request starts while the rest goes away.
      this.started.push('close the HTTP API and /metrics', () => http.stop());
      await http.start(
        consumer,
        this.deps.keystone ?? null,
        this.deps.lookup ?? null,
        this.pollHealth,
        this.deps.resetVolumeStatus ?? null,
      );
      this.log.info(
        { exchanges: c.exchanges, queue: c.queue, poller: this.deps.leaderServices !== undefined },
        'controller started',
      );
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** The scheduler's pass, then the orphan pass on the policies it just recorded. */
  private async schedulerPass(pool: pg.Pool): Promise<unknown> {
    const now = new Date();
    const scheduled = await runSchedulerPass(
      pool,
      {
        limits: this.config.limits,
        timeZone: this.config.timeZone,
        retryAfterSeconds: this.config.retryAfterSeconds,
        quota: this.config.quota,
      },
      { now, logger: this.deps.logger },
    );
    const orphans = await runOrphanPass(
      pool,
      { graceSeconds: this.config.orphanGraceSeconds },
      { now, logger: this.deps.logger },
    );
    this.counters.orphanPassFinished(orphans, new Date());
    return { scheduled, orphans };
  }

  private startLeaderWork(pool: pg.Pool): void {
    const log = this.deps.logger ?? silentLogger;
    const scheduler = new PeriodicTask(
      'scheduler',
      this.config.scheduleIntervalSeconds,
      () => this.schedulerPass(pool),
      log,
    );
    const housekeeping = new PeriodicTask(
      'prune processed and dead notifications',
      3600,
      async () => {
        await pruneProcessedNotifications(pool, this.config.processedRetentionDays);
        await pruneDeadNotifications(pool, this.config.processedRetentionDays);
      },
      log,
    );
    const tasks: LeaderService[] = [
      { name: 'scheduler', start: () => scheduler.start(), stop: () => scheduler.stop() },
      { name: 'housekeeping', start: () => housekeeping.start(), stop: () => housekeeping.stop() },
    ];
    if (this.config.mail !== null) tasks.push(this.mailReports(pool, this.config.mail, log));
    // After a poll, a pass at once: a freshly tagged volume gets its policy within one poll.
    const extra =
      this.deps.leaderServices?.(pool, {
        afterPoll: async () => void (await this.schedulerPass(pool)),
        pollFinished: (seconds, errorCode, volumes) => {
          this.pollHealth.record(errorCode);
          this.counters.pollFinished(seconds, errorCode, volumes);
        },
      }) ?? [];
    this.leaderTasks = [...tasks, ...extra];
    for (const t of this.leaderTasks) t.start();
  }

  /** The daily report and the failure mails (src/report/report-service.ts). */
  private mailReports(pool: pg.Pool, mail: MailSettings, log: Logger): LeaderService {
    const service = new ReportService({
      pool,
      sendMail: this.deps.sendMail ?? smtpMailer(mailerOptionsOf(mail)),
      from: mail.from,
      to: mail.to,
      reportAt: mail.reportAt,
      timeZone: this.config.timeZone,
      failureIntervalSeconds: mail.failureIntervalSeconds,
      tooOldGraceSeconds: mail.tooOldGraceSeconds,
      settleSeconds: mail.settleSeconds,
      retryBaseSeconds: mail.retryBaseSeconds,
      retryCapSeconds: mail.retryCapSeconds,
      sendLeaseSeconds: mail.sendLeaseSeconds,
      logger: log,
    });
    const task = new PeriodicTask('mail reports', mail.checkSeconds, () => service.tick(), log);
    return { name: 'mail reports', start: () => task.start(), stop: () => task.stop() };
  }

  private async stopLeaderWork(): Promise<void> {
    const tasks = this.leaderTasks;
    this.leaderTasks = [];
    this.pollHealth.reset();
    for (const t of tasks.reverse()) {
      await t
        .stop()
        .catch((err: unknown) =>
          this.log.warn({ task: t.name, err }, 'leader task did not stop cleanly'),
        );
    }
  }

  /** Orderly stop, newest first; safe to call more than once and after a failed start. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    for (const outcome of await this.started.unwind()) {
      if (!outcome.ok)
        this.log.warn({ err: outcome.error, step: outcome.name }, 'stop step failed');
    }
    this.log.info('controller stopped');
  }
}
