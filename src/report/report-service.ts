/**
 * The controller's mail duties, run by the leader only: queue the daily report once its
 * time has come, queue a batch of failures at most once per interval, and send what is
 * queued. Queuing writes the finished mail to `mail_reports` under a unique (kind, period)
 * key, so two controllers (a leader and one that has not noticed it was deposed) or a
 * restart make it once; sending claims a row with a lease and, when the server is down,
 * records the error and tries again later with backoff. Nothing here is on a backup's
 * path: agents only write rows that this reads.
 */
import type { Queryable } from '../db/queryable.js';
import {
  claimDueMailReport,
  insertMailReport,
  latestMailReport,
  mailReportExists,
  markMailReportRetry,
  markMailReportSent,
  type MailReport,
} from '../db/mail-reports.js';
import { listFailuresBetween } from '../db/views.js';
import { toAppError } from '../errors.js';
import { jitteredBackoff } from '../lifecycle/backoff.js';
import { silentLogger, type Logger } from '../log.js';
import { buildReport } from './build-report.js';
import { latestDailyPeriod, type ReportTime } from './daily-schedule.js';
import { loadReport } from './load-report.js';
import type { SendMail } from './mailer.js';
import { dailyReportMail, failureMail } from './render-report.js';

export interface ReportServiceOptions {
  pool: Queryable;
  sendMail: SendMail;
  from: string;
  to: string[];
  /** Daily report time on the wall clock of `timeZone`. */
  reportAt: ReportTime;
  timeZone: string;
  /** At most one failure mail per this many seconds. */
  failureIntervalSeconds: number;
  /** Slack after a due backup before the volume counts as too old. */
  tooOldGraceSeconds: number;
  /**
   * Failures younger than this wait for the next batch: a row committed a moment after
   * the batch was cut (its timestamp is its transaction's start) is not skipped.
   */
  settleSeconds: number;
  /** Backoff of sends to a server that is down. */
  retryBaseSeconds: number;
  retryCapSeconds: number;
  /** How long a claimed mail is held before another controller may try it. */
  sendLeaseSeconds: number;
  logger?: Logger;
  now?: () => Date;
}

/** Tunables that are not settings (the intervals and the grace are: [mail] in src/config). */
export const REPORT_SERVICE_DEFAULTS = {
  settleSeconds: 10,
  retryBaseSeconds: 30,
  retryCapSeconds: 1800,
  sendLeaseSeconds: 120,
} as const;

const DAY_MS = 86_400_000;

export class ReportService {
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(private readonly o: ReportServiceOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'mail-reports' });
    this.now = o.now ?? (() => new Date());
  }

  /** Queues today's daily report if its time has come and it is not queued yet. */
  async queueDailyReport(): Promise<number | null> {
    const period = latestDailyPeriod(this.now(), this.o.reportAt, this.o.timeZone);
    if (await mailReportExists(this.o.pool, 'daily', period.period)) return null;
    const window = { start: period.windowStart, end: period.windowEnd };
    const report = await loadReport(this.o.pool, window, {
      timeZone: this.o.timeZone,
      tooOldGraceSeconds: this.o.tooOldGraceSeconds,
    });
    const mail = dailyReportMail(report, period.period);
    const row = await insertMailReport(this.o.pool, {
      kind: 'daily',
      period: period.period,
      windowStart: window.start,
      windowEnd: window.end,
      recipients: this.o.to,
      subject: mail.subject,
      textBody: mail.text,
      htmlBody: mail.html,
      summary: mail.summary,
    });
    if (row !== null) {
      this.log.info({ id: row.id, period: period.period, ...mail.summary }, 'daily report queued');
    }
    return row?.id ?? null;
  }

  /**
   * Queues a mail of the failures since the last one, unless the last one is younger than
   * the interval; nothing when there is no new failure.
   */
  async queueFailureMail(): Promise<number | null> {
    const now = this.now();
    const last = await latestMailReport(this.o.pool, 'failures');
    const intervalMs = this.o.failureIntervalSeconds * 1000;
    if (last !== null && now.getTime() - last.createdAt.getTime() < intervalMs) return null;
    // The first batch ever looks back a day, so failures just before the first start count.
    const start = last?.windowEnd ?? new Date(now.getTime() - DAY_MS);
    const end = new Date(now.getTime() - this.o.settleSeconds * 1000);
    if (end <= start) return null;
    const failures = await listFailuresBetween(this.o.pool, start, end);
    if (failures.length === 0) return null;
    const report = buildReport({
      window: { start, end },
      timeZone: this.o.timeZone,
      tooOldGraceSeconds: this.o.tooOldGraceSeconds,
      volumes: [],
      runs: [],
      failures,
      pruned: [],
      space: [],
    });
    const mail = failureMail(report);
    const row = await insertMailReport(this.o.pool, {
      kind: 'failures',
      // The previous batch's end: two controllers cutting the same batch make one row.
      period: start.toISOString(),
      windowStart: start,
      windowEnd: end,
      recipients: this.o.to,
      subject: mail.subject,
      textBody: mail.text,
      htmlBody: mail.html,
      summary: mail.summary,
    });
    if (row !== null)
      this.log.info({ id: row.id, failures: failures.length }, 'failure mail queued');
    return row?.id ?? null;
  }

  /**
   * Sends queued mails whose time has come, oldest first. Stops at the first failure (the
   * server is likely down for all of them); that mail waits its backoff.
   */
  async sendDue(): Promise<{ sent: number; failed: number }> {
    let sent = 0;
    for (;;) {
      const m = await claimDueMailReport(this.o.pool, this.o.sendLeaseSeconds);
      if (m === null) return { sent, failed: 0 };
      const ok = await sendRecordedMail(this.o, m, this.log);
      if (!ok) return { sent, failed: 1 };
      sent += 1;
    }
  }

  /**
   * One pass: queue what is due, then send. Each step's failure (Postgres away) is logged
   * and does not keep the others from running.
   */
  async tick(): Promise<void> {
    for (const [name, step] of [
      ['queue daily report', () => this.queueDailyReport()],
      ['queue failure mail', () => this.queueFailureMail()],
      ['send mail', () => this.sendDue()],
    ] as const) {
      try {
        await step();
      } catch (err) {
        this.log.warn({ err, step: name }, 'mail report step failed');
      }
    }
    this.log.debug('mail pass done');
  }
}

/** The Message-ID of a recorded mail: the same at every attempt, so a resend is a duplicate. */
export function messageIdOf(m: MailReport, from: string): string {
  const domain = from.split('@')[1] ?? 'cinder-lvm-backup.invalid';
  return `<clb-${m.kind}-${m.id}-${m.createdAt.getTime()}@${domain}>`;
}

/**
 * Sends one recorded mail and records the outcome: sent (with the server's reply), or the
 * error and the time of the next attempt. Never throws for a mail server problem.
 */
export async function sendRecordedMail(
  o: Pick<
    ReportServiceOptions,
    'pool' | 'sendMail' | 'from' | 'retryBaseSeconds' | 'retryCapSeconds'
  >,
  m: MailReport,
  log: Logger,
): Promise<boolean> {
  const messageId = messageIdOf(m, o.from);
  let result;
  try {
    result = await o.sendMail({
      from: o.from,
      to: m.recipients,
      subject: m.subject,
      text: m.textBody,
      html: m.htmlBody,
      messageId,
    });
  } catch (err) {
    const e = toAppError(err, 'MAIL_UNAVAILABLE');
    const retryIn = jitteredBackoff(Math.max(1, m.attempts), {
      base: o.retryBaseSeconds,
      cap: o.retryCapSeconds,
    });
    await markMailReportRetry(o.pool, m.id, { error: e.message, afterSeconds: retryIn });
    log.warn(
      { err: e, id: m.id, kind: m.kind, attempts: m.attempts, retryInSeconds: Math.round(retryIn) },
      'mail not sent; will try again',
    );
    return false;
  }
  await markMailReportSent(o.pool, m.id, result);
  log.info({ id: m.id, kind: m.kind, period: m.period, messageId }, 'mail sent');
  return true;
}
