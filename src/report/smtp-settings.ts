/**
 * `[mail] smtp_url` (CLB_SMTP_URL) taken apart: `smtp://[user:pass@]host:port`, STARTTLS
 * when the server offers it; `smtps://` for TLS from the first byte. Pure. The password is
 * kept out of every message.
 */
import { AppError } from '../errors.js';

export interface SmtpServer {
  host: string;
  port: number;
  /** TLS from the start (smtps://); otherwise STARTTLS when offered. */
  secure: boolean;
  auth: { user: string; pass: string } | null;
}

/** host:port of a server, for logs and errors (never the credentials). */
export function smtpServerLabel(s: SmtpServer): string {
  return `${s.secure ? 'smtps' : 'smtp'}://${s.host}:${s.port}`;
}

/** Parses CLB_SMTP_URL; the error names the variable, never the password. */
export function parseSmtpUrl(text: string, name = 'CLB_SMTP_URL'): SmtpServer {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `${name} is not a URL (smtp://[user:pass@]host:port)`, {
      cause: err,
    });
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new AppError('CONFIG_INVALID', `${name} must start with smtp:// or smtps://`);
  }
  if (url.hostname === '') throw new AppError('CONFIG_INVALID', `${name} names no host`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new AppError('CONFIG_INVALID', `${name} takes no path or query (smtp://host:port)`);
  }
  const secure = url.protocol === 'smtps:';
  const port = url.port === '' ? (secure ? 465 : 25) : Number(url.port);
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  if (user === '' && pass !== '')
    throw new AppError('CONFIG_INVALID', `${name} has a password but no user`);
  return {
    // URL keeps IPv6 literals bracketed; the socket wants them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    secure,
    auth: user === '' ? null : { user, pass },
  };
}
