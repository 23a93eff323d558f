/**
 * The failure of a system program run through src/exec/: which program, how it ended
 * (exit code or signal) and the tail of what it wrote to stderr, as fields a caller can
 * branch on instead of matching the message.
 */
import { AppError, type ErrorCode } from '../errors.js';

export interface CommandFacts {
  /** The program as given (`lvcreate`, `zstd`). */
  program: string;
  /** The whole command line, quoted for reading (never executed). */
  command: string;
  /** Null when the program did not exit by itself (killed, not started). */
  exitCode: number | null;
  /** The signal that ended it (`SIGTERM`), or null. */
  signal: string | null;
  /** The last part of its stderr, trimmed. */
  stderr: string;
}

/** A program that could not run, timed out, was cancelled or exited with a failure. */
export class CommandError extends AppError {
  readonly program: string;
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderr: string;

  constructor(
    code: ErrorCode,
    message: string,
    facts: CommandFacts,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(code, message, {
      ...options,
      details: {
        command: facts.command,
        exitCode: facts.exitCode,
        signal: facts.signal,
        stderr: facts.stderr,
      },
    });
    this.name = 'CommandError';
    this.program = facts.program;
    this.command = facts.command;
    this.exitCode = facts.exitCode;
    this.signal = facts.signal;
    this.stderr = facts.stderr;
  }
}

/** Whether `err` is a program that ran and exited non-zero with stderr matching `pattern`. */
export function commandFailedWith(err: unknown, pattern: RegExp): err is CommandError {
  return err instanceof CommandError && err.code === 'COMMAND_FAILED' && pattern.test(err.stderr);
}
