/**
 * A pino logger configured like src/log.ts (same redaction) whose lines land in memory, so
 * tests can assert what was, and was not, logged.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../../src/log.js';

export interface CapturedLogger {
  logger: Logger;
  /** Everything logged so far, one JSON line per entry. */
  text(): string;
  lines(): Record<string, unknown>[];
}

export function captureLogger(level = 'trace'): CapturedLogger {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream);
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
