/** A logger whose JSON lines are kept, to check what reached the log. */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../../src/log.js';

export function captureLog(): { logger: Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink) as unknown as Logger;
  return { logger, text: () => text };
}
