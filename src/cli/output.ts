/**
 * How commands report: with `--json`, one JSON object on stdout (`status` plus the
 * command's fields, or `error: {code, message}`); otherwise text on stdout and one line
 * of error on stderr.
 */
import { toAppError } from '../errors.js';

export interface CommandContext {
  json: boolean;
  /** True when stderr is a terminal: progress bars are allowed. */
  interactive: boolean;
  signal: AbortSignal;
}

/** Exit codes: 0 ok, 1 the operation failed, 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Reports a failure the way the context asks and returns the exit code to use. */
export function reportFailure(ctx: Pick<CommandContext, 'json'>, err: unknown): number {
  const appError = toAppError(err);
  if (ctx.json) {
    printJson({ status: 'failed', error: appError.toJSON() });
  } else {
    process.stderr.write(`error: ${appError.code}: ${appError.message.split('\n')[0] ?? ''}\n`);
  }
  return appError.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILED;
}
