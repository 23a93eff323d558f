/**
 * Sends one mail over SMTP with nodemailer: a fresh connection per mail (a report a day and
 * a few failure batches do not need a pool), bounded timeouts so a server that does not
 * answer costs seconds, not a stuck leader. Errors carry host and port, never the password.
 */
import nodemailer from 'nodemailer';
import { AppError } from '../errors.js';
import { smtpServerLabel, type SmtpServer } from './smtp-settings.js';

export interface OutgoingMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Message-ID (with angle brackets); fixed per recorded mail so a resend is a duplicate. */
  messageId: string;
}

export interface SentMail {
  messageId: string;
  /** The server's reply to the end of DATA ("250 OK: queued as ..."). */
  response: string;
}

/** What the report service needs of a mailer (tests may count calls through it). */
export type SendMail = (mail: OutgoingMail) => Promise<SentMail>;

export interface MailerOptions {
  server: SmtpServer;
  /** Connection, greeting and socket timeouts (default 15 s). */
  timeoutSeconds?: number;
  /** Extra TLS options (a private CA for tests or an internal relay). */
  tls?: { ca?: string; servername?: string };
}

/** A SendMail over the configured server. */
export function smtpMailer(o: MailerOptions): SendMail {
  const ms = (o.timeoutSeconds ?? 15) * 1000;
  const transport = nodemailer.createTransport({
    host: o.server.host,
    port: o.server.port,
    secure: o.server.secure,
    ...(o.server.auth === null
      ? {}
      : { auth: { user: o.server.auth.user, pass: o.server.auth.pass } }),
    connectionTimeout: ms,
    greetingTimeout: ms,
    socketTimeout: ms * 2,
    ...(o.tls === undefined ? {} : { tls: o.tls }),
    // nodemailer logs nothing unless asked; its debug output would contain AUTH lines.
    logger: false,
    debug: false,
  });
  return async (mail) => {
    try {
      const info = await transport.sendMail({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: mail.messageId,
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
      const accepted = (info.accepted as unknown[]).length;
      if (accepted === 0) {
        throw new Error(`no recipient was accepted (${String(info.response)})`);
      }
      return { messageId: mail.messageId, response: String(info.response) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new AppError(
        'MAIL_UNAVAILABLE',
        `sending mail via ${smtpServerLabel(o.server)} failed: ${redact(message, o.server)}`,
        { cause: err },
      );
    }
  };
}

/** Removes the password from a message, should a library ever quote it. */
function redact(message: string, s: SmtpServer): string {
  const pass = s.auth?.pass;
  return pass === undefined || pass === '' ? message : message.split(pass).join('[redacted]');
}
