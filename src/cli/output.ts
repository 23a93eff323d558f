/**
 * How commands report: with `--json`, one JSON object on stdout (`status` plus the
 * command's fields, or `error: {code, message}`); otherwise text on stdout and the error on
 * stderr (its first line `error: CODE: message`, then any further lines such as the
 * usage or the list of configuration problems).
 */
import { toAppError, type ErrorCode } from '../errors.js';

export interface CommandContext {
  json: boolean;
  /** True when stderr is a terminal: progress bars are allowed. */
  interactive: boolean;
  signal: AbortSignal;
}

/** Exit codes: 0 ok, 1 the operation failed, 2 bad usage, 78 bad configuration (EX_CONFIG). */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONFIG = 78;

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** The exit code of a failure with `code`. */
export function exitCodeOf(code: ErrorCode): number {
  if (code === 'INVALID_ARGUMENT') return EXIT_USAGE;
  if (code === 'CONFIG_INVALID') return EXIT_CONFIG;
  return EXIT_FAILED;
}

/** Reports a failure the way the context asks and returns the exit code to use. */
export function reportFailure(ctx: Pick<CommandContext, 'json'>, err: unknown): number {
  const appError = toAppError(err);
  if (ctx.json) {
    printJson({ status: 'failed', error: appError.toJSON() });
  } else {
    process.stderr.write(`error: ${appError.code}: ${appError.message.trimEnd()}\n`);
  }
  return exitCodeOf(appError.code);
}
