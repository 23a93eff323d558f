/**
 * Sends one mail over SMTP with nodemailer: a fresh connection per mail (a report a day and
 * a few failure batches do not need a pool), bounded timeouts so a server that does not
 * answer costs seconds, not a stuck leader. Certificates are always checked (a private CA
 * comes from `[mail] ca_file`); with `requireTls` a server that offers no STARTTLS gets no
 * AUTH and no mail. Errors carry host and port, never the password.
 */
import { readFileSync } from 'node:fs';
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
  /**
   * Connection and greeting timeout (`[mail] timeout`, default 15 s); the socket's idle
   * timeout is twice this.
   */
  timeoutSeconds?: number;
  /** On smtp://: fail unless the server takes STARTTLS (before any AUTH is sent). */
  requireTls?: boolean;
  /** PEM file of the CA that signed the server's certificate (an internal relay). */
  caFile?: string;
}

/** The CA file's text; a file that cannot be read is a configuration error, said at once. */
function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new AppError('CONFIG_INVALID', `[mail] ca_file ${file} cannot be read (${code})`, {
      cause: err,
    });
  }
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
    requireTLS: o.requireTls === true,
    tls: {
      minVersion: 'TLSv1.2',
      ...(o.caFile === undefined ? {} : { ca: readCa(o.caFile) }),
    },
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
