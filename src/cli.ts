#!/usr/bin/env node
/**
 * cinder-lvm-backup: the one entry point for daemons and operators.
 * `cinder-lvm-backup <command> [--json] [options]`
 */
import { AppError } from './errors.js';
import { COMMANDS } from './cli/commands.js';
import { EXIT_USAGE, reportFailure, type CommandContext } from './cli/output.js';

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: cinder-lvm-backup <command> [--json] [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const json = rest.includes('--json');
  const args = rest.filter((a) => a !== '--json');
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = COMMANDS[name];
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    // First signal: abort gracefully (cleanup stacks unwind). Second: leave at once.
    if (signals > 1) process.exit(130);
    controller.abort(new AppError('ABORTED', `received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: CommandContext = {
    json,
    interactive: process.stderr.isTTY === true,
    signal: controller.signal,
  };
  if (entry === undefined) {
    return reportFailure(
      ctx,
      new AppError('INVALID_ARGUMENT', `unknown command "${name}"; see --help`),
    );
  }
  try {
    const run = await entry.load();
    return await run(args, ctx);
  } catch (err) {
    return reportFailure(ctx, err);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: INTERNAL: ${String(err)}\n`);
    process.exitCode = EXIT_USAGE + 1;
  },
);
