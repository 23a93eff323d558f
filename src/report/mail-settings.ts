/**
 * The mail settings of the loaded configuration ([mail] in src/config/settings-schema.ts,
 * checked there) in the shape the report service takes, with the SMTP URL taken apart.
 * Pure. Without `smtp_url` no mail is sent.
 */
import type { Config } from '../config/settings.js';
import { AppError } from '../errors.js';
import type { ReportTime } from './daily-schedule.js';
import { REPORT_SERVICE_DEFAULTS } from './report-service.js';
import type { MailerOptions } from './mailer.js';
import { parseSmtpUrl, type SmtpServer } from './smtp-settings.js';

export interface MailSettings {
  server: SmtpServer;
  /** STARTTLS demanded on smtp:// (set, or a password in the URL). */
  requireTls: boolean;
  /** PEM file of a private CA for the server's certificate. */
  caFile?: string;
  /** `[mail] timeout`: connect and greeting; the idle-socket timeout is twice this. */
  timeoutSeconds: number;
  from: string;
  to: string[];
  reportAt: ReportTime;
  failureIntervalSeconds: number;
  tooOldGraceSeconds: number;
  /** Seconds between the leader's passes (queue what is due, send what is queued). */
  checkSeconds: number;
  settleSeconds: number;
  retryBaseSeconds: number;
  retryCapSeconds: number;
  sendLeaseSeconds: number;
}

/** The report settings `report` needs even without a mail server. */
export function reportTuningOf(config: Pick<Config, 'general' | 'mail'>): {
  timeZone: string;
  tooOldGraceSeconds: number;
} {
  return { timeZone: config.general.timeZone, tooOldGraceSeconds: config.mail.tooOldGrace };
}

/** Mail settings, or null when `[mail] smtp_url` is not set (no mail). */
export function mailSettingsOf(config: Pick<Config, 'mail'>): MailSettings | null {
  const m = config.mail;
  if (m.smtpUrl === undefined) return null;
  if (m.from === undefined || m.to === undefined || m.to.length === 0) {
    // The settings check refuses this already; a caller that skipped it gets told.
    throw new AppError('CONFIG_INVALID', '[mail] smtp_url is set, so from and to are needed too');
  }
  const server = parseSmtpUrl(m.smtpUrl, '[mail] smtp_url');
  return {
    server,
    requireTls: m.requireTls ?? server.auth !== null,
    ...(m.caFile === undefined ? {} : { caFile: m.caFile }),
    timeoutSeconds: m.timeout,
    from: m.from,
    to: [...new Set(m.to)],
    reportAt: m.reportAt,
    failureIntervalSeconds: m.failureInterval,
    tooOldGraceSeconds: m.tooOldGrace,
    checkSeconds: 30,
    settleSeconds: REPORT_SERVICE_DEFAULTS.settleSeconds,
    retryBaseSeconds: REPORT_SERVICE_DEFAULTS.retryBaseSeconds,
    retryCapSeconds: REPORT_SERVICE_DEFAULTS.retryCapSeconds,
    sendLeaseSeconds: REPORT_SERVICE_DEFAULTS.sendLeaseSeconds,
  };
}

/** What the mailer takes of the settings. */
export function mailerOptionsOf(
  mail: Pick<MailSettings, 'server' | 'requireTls' | 'caFile' | 'timeoutSeconds'>,
): MailerOptions {
  return {
    server: mail.server,
    requireTls: mail.requireTls,
    timeoutSeconds: mail.timeoutSeconds,
    ...(mail.caFile === undefined ? {} : { caFile: mail.caFile }),
  };
}
