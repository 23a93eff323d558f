/**
 * The command wrapper's failures as CommandError fields, with tiny real programs.
 */
import { describe, expect, it } from 'vitest';
import { CommandError, commandFailedWith } from '../../src/exec/command-error.js';
import { runCommand } from '../../src/exec/run-command.js';

async function failureOf(p: Promise<unknown>): Promise<CommandError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CommandError);
  return err as CommandError;
}

const node = process.execPath;

describe('runCommand failures', () => {
  it('a non-zero exit: code, program, exit code and the stderr tail as fields', async () => {
    const err = await failureOf(
      runCommand(node, [
        '-e',
        'process.stderr.write("x".repeat(5000) + "device is busy"); process.exit(5)',
      ]),
    );
    expect(err).toMatchObject({
      code: 'COMMAND_FAILED',
      program: node,
      exitCode: 5,
      signal: null,
      retryable: false,
    });
    expect(err.stderr.endsWith('device is busy')).toBe(true);
    expect(err.stderr.length).toBeLessThan(2_100);
    expect(commandFailedWith(err, /busy/)).toBe(true);
    expect(commandFailedWith(err, /not found/)).toBe(false);
  });

  it('a program killed by a signal names the signal', async () => {
    const err = await failureOf(runCommand(node, ['-e', 'process.kill(process.pid, "SIGKILL")']));
    expect(err).toMatchObject({ code: 'COMMAND_FAILED', exitCode: null, signal: 'SIGKILL' });
    expect(err.message).toContain('killed by SIGKILL');
  });

  it('a timeout is COMMAND_TIMEOUT (retryable), a cancel ABORTED with the reason as cause', async () => {
    const slow = ['-e', 'setTimeout(() => {}, 30000)'];
    const timedOut = await failureOf(runCommand(node, slow, { timeoutMs: 200 }));
    expect(timedOut).toMatchObject({ code: 'COMMAND_TIMEOUT', retryable: true });
    const reason = new Error('stop now');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 200);
    const cancelled = await failureOf(runCommand(node, slow, { signal: controller.signal }));
    expect(cancelled.code).toBe('ABORTED');
    expect(cancelled.cause).toBe(reason);
  });

  it('a program not on PATH is TOOL_MISSING', async () => {
    const err = await failureOf(runCommand('clb-no-such-program', []));
    expect(err).toMatchObject({ code: 'TOOL_MISSING', program: 'clb-no-such-program' });
  });
});
