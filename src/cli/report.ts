/**
 * `cinder-lvm-backup report [--since 24h] [--json] [--send]`: the mail report of the last
 * window, printed (text, or the report's data with --json) or sent to CLB_MAIL_TO and
 * recorded like the controller's. A mail server that is down leaves the mail recorded as
 * pending; the controller's leader sends it when the server is back.
 */
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { insertMailReport } from '../db/mail-reports.js';
import { AppError } from '../errors.js';
import { parseCommandArgs, type CommandSpec } from './args.js';
import { createLogger, silentLogger } from '../log.js';
import { loadReport } from '../report/load-report.js';
import { mailSettingsOf, mailerOptionsOf, reportTuningOf } from '../report/mail-settings.js';
import { smtpMailer } from '../report/mailer.js';
import { dailyReportMail } from '../report/render-report.js';
import { sendRecordedMail } from '../report/report-service.js';
import { EXIT_FAILED, printJson, type CommandContext } from './output.js';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, min: 60, h: 3600, d: 86_400 };

/** "24h", "90min", "2d" → seconds. */
export function parseSince(text: string): number {
  const m = /^(\d{1,6})(s|m|min|h|d)$/.exec(text.trim());
  const seconds = m === null ? NaN : Number(m[1]) * (UNITS[m[2] ?? ''] ?? NaN);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 366 * 86_400) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `--since takes a duration like 24h, 90min or 7d (got "${text.slice(0, 20)}")`,
    );
  }
  return seconds;
}

const OPTIONS = {
  since: {
    kind: 'string',
    arg: 'DURATION',
    help: 'the window, ending now: 24h, 90min, 7d (default 24h, at most 366d)',
  },
  send: { kind: 'boolean', help: 'mail it to [mail] to and record it, as the controller does' },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'report',
  usage: ['report [--since DURATION] [--send]'],
  description:
    'Prints the mail report of the last window: backups done and failed, volumes overdue or\n' +
    'with a policy error, space used. --send mails it; a mail server that is down leaves it\n' +
    "recorded as pending, and the controller's leader sends it when the server is back.",
  options: OPTIONS,
  examples: ['report', 'report --since 7d --json', 'report --since 24h --send'],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const parsed = parseCommandArgs(spec, argv).values;
  const values = { since: parsed.since ?? '24h', send: parsed.send };
  const since = parseSince(values.since);
  const tuning = reportTuningOf(config);
  const mail = values.send === true ? mailSettingsOf(config) : null;
  if (values.send === true && mail === null) {
    throw new AppError(
      'CONFIG_INVALID',
      '--send needs [mail] smtp_url, from and to (CLB_SMTP_URL, CLB_MAIL_FROM, CLB_MAIL_TO)',
    );
  }
  const end = new Date();
  const window = { start: new Date(end.getTime() - since * 1000), end };
  const pool = createPool({
    url: databaseUrlOf(config),
    applicationName: 'cinder-lvm-backup report',
    max: 5,
  });
  try {
    const report = await loadReport(pool, window, tuning);
    const content = dailyReportMail(report, `last ${values.since}`);
    if (mail === null) {
      if (ctx.json) printJson({ status: 'ok', subject: content.subject, report });
      else process.stdout.write(content.text);
      return 0;
    }
    const row = await insertMailReport(pool, {
      kind: 'manual',
      period: end.toISOString(),
      windowStart: window.start,
      windowEnd: window.end,
      recipients: mail.to,
      subject: content.subject,
      textBody: content.text,
      htmlBody: content.html,
      summary: content.summary,
      // Ours to send first; the leader takes it over only if this attempt fails.
      holdSeconds: mail.sendLeaseSeconds,
    });
    if (row === null) throw new AppError('INTERNAL', 'a manual report for this instant exists');
    const log = ctx.json
      ? silentLogger
      : createLogger({ name: 'cinder-lvm-backup-report', level: config.general.logLevel });
    const sent = await sendRecordedMail(
      {
        pool,
        sendMail: smtpMailer(mailerOptionsOf(mail)),
        from: mail.from,
        retryBaseSeconds: mail.retryBaseSeconds,
        retryCapSeconds: mail.retryCapSeconds,
      },
      row,
      log,
    );
    const result = {
      status: sent ? 'ok' : 'failed',
      subject: content.subject,
      mailReportId: row.id,
      sent,
      to: mail.to,
    };
    if (ctx.json) printJson(result);
    else {
      process.stdout.write(
        sent
          ? `sent "${content.subject}" to ${mail.to.join(', ')}\n`
          : `not sent (mail server unavailable); recorded as mail report ${row.id}, the controller will retry\n`,
      );
    }
    return sent ? 0 : EXIT_FAILED;
  } finally {
    await pool.end();
  }
}
