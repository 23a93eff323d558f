#!/usr/bin/env node
/**
 * cinder-lvm-backup: the one entry point for daemons and operators.
 * `cinder-lvm-backup [--config FILE] <command> [--json] [options]`
 *
 * The only module that reads the process environment: it hands it to the settings loader
 * (src/config/settings.ts), and commands receive the typed configuration.
 */
import { readFile } from 'node:fs/promises';
import { loadSettings } from './config/settings.js';
import { setRunRoot } from './engine/run-dir.js';
import { setStepPause } from './lifecycle/step-pause.js';
import { setLogPriorityPrefix } from './log.js';
import { AppError } from './errors.js';
import { asksForHelp, helpText, parseCommandArgs } from './cli/args.js';
import { COMMANDS } from './cli/commands.js';
import { EXIT_USAGE, reportFailure, type CommandContext } from './cli/output.js';

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return (
    'usage: cinder-lvm-backup [--config FILE] <command> [--json] [options]\n' +
    '       cinder-lvm-backup <command> --help | help <command> | --version\n\n' +
    `commands:\n${lines.join('\n')}\n\n` +
    'The configuration is read from --config FILE, CLB_CONFIG or\n' +
    '/etc/cinder-lvm-backup/cinder-lvm-backup.conf, with environment variables over it.\n' +
    'Exit codes: 0 done, 1 the operation failed, 2 bad usage, 78 bad configuration.\n'
  );
}

/** The version in package.json (one level above both src/cli.ts and dist/cli.js). */
async function version(): Promise<string> {
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** Takes `--config FILE` / `--config=FILE` and `--json` out of the arguments. */
function globalOptions(argv: readonly string[]): {
  rest: string[];
  json: boolean;
  configFile?: string;
} {
  const rest: string[] = [];
  let json = false;
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] ?? '';
    if (a === '--json') json = true;
    else if (a === '--config') {
      configFile = argv[i + 1];
      if (configFile === undefined || configFile.startsWith('--')) {
        throw new AppError('INVALID_ARGUMENT', '--config needs a file name');
      }
      i += 1;
    } else if (a.startsWith('--config=')) configFile = a.slice('--config='.length);
    else rest.push(a);
  }
  return { rest, json, ...(configFile === undefined ? {} : { configFile }) };
}

async function main(argv: string[], controller: AbortController): Promise<number> {
  // Crash tests only (lifecycle/step-pause.ts): freeze at a named step to be killed there.
  setStepPause(process.env['CLB_TEST_PAUSE_AT'], process.env['CLB_TEST_PAUSE_READY']);
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
    json: argv.includes('--json'),
    interactive: process.stderr.isTTY === true,
    signal: controller.signal,
  };
  try {
    const { rest, json, configFile } = globalOptions(argv);
    ctx.json = json;
    const [name, ...args] = rest;
    if (name === undefined) {
      process.stderr.write(usage());
      return EXIT_USAGE;
    }
    if (name === '--version' || name === '-V') {
      const v = await version();
      if (ctx.json) process.stdout.write(`${JSON.stringify({ status: 'ok', version: v })}\n`);
      else process.stdout.write(`cinder-lvm-backup ${v}\n`);
      return 0;
    }
    const helpOf = name === 'help' ? args[0] : undefined;
    if (name === '--help' || name === '-h' || (name === 'help' && helpOf === undefined)) {
      process.stdout.write(usage());
      return 0;
    }
    const entry = COMMANDS[helpOf ?? name];
    if (entry === undefined) {
      const what = helpOf ?? name;
      throw new AppError(
        'INVALID_ARGUMENT',
        `${what.startsWith('-') ? 'unknown option' : 'unknown command'} "${what.slice(0, 40)}"\n${usage()}`,
      );
    }
    // Help and bad arguments need no configuration: both are answered before any is read.
    const command = await entry.load();
    if (helpOf !== undefined || asksForHelp(args)) {
      process.stdout.write(helpText(command.spec));
      return 0;
    }
    parseCommandArgs(command.spec, args);
    const input = { env: process.env, configFile };
    if (entry.settings === 'self') return await (await entry.load()).run(args, ctx, input);
    const config = await loadSettings({ ...input, ...entry.settings });
    setRunRoot(config.general.runDir);
    setLogPriorityPrefix(config.general.logPriorityPrefix);
    return await (await entry.load()).run(args, ctx, config);
  } catch (err) {
    return reportFailure(ctx, err);
  }
}

const stopped = new AbortController();
main(process.argv.slice(2), stopped).then(
  (code) => {
    process.exitCode = code;
    // Stopped by a signal: nothing is left worth waiting for. A write blocked in the kernel
    // (a frozen destination) holds a thread-pool request that would keep the event loop, and
    // so the process, alive after the command returned.
    if (stopped.signal.aborted) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`error: INTERNAL: ${String(err)}\n`);
    process.exitCode = EXIT_USAGE + 1;
  },
);
