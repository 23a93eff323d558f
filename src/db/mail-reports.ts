/**
 * Queries of the `mail_reports` table (0008_mail_reports.sql): the mails the controller
 * decided to send, written before they are sent. A row is made once per (kind, period),
 * whichever controller gets there first; sending claims it with a lease (next_attempt_at
 * pushed ahead) so two controllers never send the same row at once.
 */
import { queryOne, type Queryable } from './queryable.js';

export type MailReportKind = 'daily' | 'failures' | 'manual';

export interface MailReport {
  id: number;
  kind: MailReportKind;
  period: string;
  windowStart: Date;
  windowEnd: Date;
  recipients: string[];
  subject: string;
  textBody: string;
  htmlBody: string;
  summary: Record<string, number>;
  state: 'pending' | 'sent';
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  messageId: string | null;
  smtpResponse: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

interface MailReportRow {
  id: string;
  kind: MailReportKind;
  period: string;
  window_start: Date;
  window_end: Date;
  recipients: string[];
  subject: string;
  text_body: string;
  html_body: string;
  summary: Record<string, number>;
  state: 'pending' | 'sent';
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  message_id: string | null;
  smtp_response: string | null;
  created_at: Date;
  sent_at: Date | null;
}

function fromRow(r: MailReportRow): MailReport {
  return {
    id: Number(r.id),
    kind: r.kind,
    period: r.period,
    windowStart: r.window_start,
    windowEnd: r.window_end,
    recipients: r.recipients,
    subject: r.subject,
    textBody: r.text_body,
    htmlBody: r.html_body,
    summary: r.summary,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    messageId: r.message_id,
    smtpResponse: r.smtp_response,
    createdAt: r.created_at,
    sentAt: r.sent_at,
  };
}

export interface NewMailReport {
  kind: MailReportKind;
  period: string;
  windowStart: Date;
  windowEnd: Date;
  recipients: string[];
  subject: string;
  textBody: string;
  htmlBody: string;
  summary: Record<string, number>;
  /** Seconds before the controller may send it (the caller sends it itself meanwhile). */
  holdSeconds?: number;
}

/** Records a mail to send; null when that (kind, period) was already recorded. */
export async function insertMailReport(q: Queryable, m: NewMailReport): Promise<MailReport | null> {
  return queryOne(
    q,
    `INSERT INTO mail_reports (kind, period, window_start, window_end, recipients, subject,
                               text_body, html_body, summary, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))
     ON CONFLICT (kind, period) DO NOTHING RETURNING *`,
    [
      m.kind,
      m.period,
      m.windowStart,
      m.windowEnd,
      m.recipients,
      m.subject,
      m.textBody,
      m.htmlBody,
      JSON.stringify(m.summary),
      m.holdSeconds ?? 0,
    ],
    fromRow,
  );
}

/** True when a mail of that kind and period is recorded (sent or not). */
export async function mailReportExists(
  q: Queryable,
  kind: MailReportKind,
  period: string,
): Promise<boolean> {
  const res = await q.query('SELECT 1 FROM mail_reports WHERE kind = $1 AND period = $2', [
    kind,
    period,
  ]);
  return (res.rowCount ?? 0) > 0;
}

/** The newest mail of a kind (by the end of its window). */
export async function latestMailReport(
  q: Queryable,
  kind: MailReportKind,
): Promise<MailReport | null> {
  return queryOne(
    q,
    'SELECT * FROM mail_reports WHERE kind = $1 ORDER BY window_end DESC, id DESC LIMIT 1',
    [kind],
    fromRow,
  );
}

/**
 * Takes the oldest pending mail whose time has come and holds it for `leaseSeconds`
 * (another controller skips it meanwhile); counts the attempt.
 */
export async function claimDueMailReport(
  q: Queryable,
  leaseSeconds: number,
): Promise<MailReport | null> {
  return queryOne(
    q,
    `UPDATE mail_reports SET attempts = attempts + 1,
            next_attempt_at = now() + make_interval(secs => $1)
      WHERE id = (SELECT id FROM mail_reports
                   WHERE state = 'pending' AND next_attempt_at <= now()
                   ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    [leaseSeconds],
    fromRow,
  );
}

/** Records that the server took the mail. */
export async function markMailReportSent(
  q: Queryable,
  id: number,
  sent: { messageId: string; response: string },
): Promise<void> {
  await q.query(
    `UPDATE mail_reports SET state = 'sent', sent_at = now(), message_id = $2,
            smtp_response = $3, last_error = NULL
      WHERE id = $1`,
    [id, sent.messageId, sent.response],
  );
}

/** Records a failed attempt and when to try again. */
export async function markMailReportRetry(
  q: Queryable,
  id: number,
  retry: { error: string; afterSeconds: number },
): Promise<void> {
  await q.query(
    `UPDATE mail_reports SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
      WHERE id = $1 AND state = 'pending'`,
    [id, retry.error, retry.afterSeconds],
  );
}

/** Every recorded mail, newest first (for tests and `report --json`). */
export async function listMailReports(q: Queryable, limit = 100): Promise<MailReport[]> {
  const res = await q.query<MailReportRow>(
    'SELECT * FROM mail_reports ORDER BY created_at DESC, id DESC LIMIT $1',
    [limit],
  );
  return res.rows.map(fromRow);
}
