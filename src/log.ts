/**
 * The logger: pino, JSON to stderr (stdout stays free for a command's `--json` result),
 * with secrets redacted wherever they appear in a logged object.
 */
import { destination, pino, type Logger } from 'pino';

/** Paths pino removes from every log line. Notification payloads are never logged whole. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'application_credential_secret',
  '*.application_credential_secret',
  'auth.identity',
  '*.auth.identity',
  'headers["x-auth-token"]',
  '*.headers["x-auth-token"]',
  'headers["X-Auth-Token"]',
  '*.headers["X-Auth-Token"]',
  'connection_info',
  '*.connection_info',
  '*.*.connection_info',
  'provider_auth',
  '*.provider_auth',
  'databaseUrl',
  'amqpUrl',
  'amqpUrls',
];

export type { Logger };

/** A logger at `level` (default info; processes pass `[DEFAULT] log_level`). */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'cinder-lvm-backup',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
