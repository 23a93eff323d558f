/**
 * The logger: pino, JSON to stderr (stdout stays free for a command's `--json` result),
 * with secrets redacted wherever they appear in a logged object. Under systemd each line
 * may start with its syslog priority (`<4>{"level":40,…}`): journald takes the priority
 * from that prefix and strips it (systemd.exec(5), SyslogLevelPrefix=), so
 * `journalctl -p warning` finds warnings and errors.
 */
import { destination, pino, type DestinationStream, type Logger } from 'pino';

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

/** pino's numeric levels → syslog priorities (sd-daemon(3): `<N>` before the line). */
const PRIORITY_OF_LEVEL: ReadonlyMap<number, number> = new Map([
  [10, 7], // trace → debug
  [20, 7], // debug
  [30, 6], // info
  [40, 4], // warn → warning
  [50, 3], // error → err
  [60, 2], // fatal → crit
]);

/** The `<N>` prefix of a pino JSON line, by its `level` (pino writes it first). */
export function priorityPrefixOf(line: string): string {
  const m = /^\{"level":(\d+)/.exec(line);
  const priority = m === null ? undefined : PRIORITY_OF_LEVEL.get(Number(m[1]));
  return `<${priority ?? 6}>`;
}

let priorityPrefix = false;

/**
 * Makes loggers created from now on start each line with its syslog priority
 * (`[DEFAULT] log_priority_prefix`; src/cli.ts sets it once from the configuration).
 */
export function setLogPriorityPrefix(on: boolean): void {
  priorityPrefix = on;
}

function stderrStream(): DestinationStream {
  const stderr = destination({ fd: 2, sync: true });
  if (!priorityPrefix) return stderr;
  return { write: (line: string) => stderr.write(priorityPrefixOf(line) + line) };
}

/** A logger at `level` (default info; processes pass `[DEFAULT] log_level`). */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'cinder-lvm-backup',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    stderrStream(),
  );
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
