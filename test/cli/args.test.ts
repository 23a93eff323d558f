/**
 * The shared argument parser (src/cli/args.ts) and every command's declared spec: options
 * typed and bounded, unknown options refused with the usage, help with examples, and each
 * command's own examples accepted by its parser.
 */
import { describe, expect, it } from 'vitest';
import {
  asksForHelp,
  helpText,
  parseCommandArgs,
  usageText,
  type CommandSpec,
} from '../../src/cli/args.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { AppError } from '../../src/errors.js';

const OPTIONS = {
  name: { kind: 'string', arg: 'NAME', help: 'a name' },
  tag: { kind: 'string', multiple: true, help: 'a tag' },
  count: { kind: 'integer', min: 1, max: 10, help: 'how many' },
  every: { kind: 'duration', min: 5, max: 3600, help: 'how often', default: '1m' },
  force: { kind: 'boolean', help: 'do it' },
  secret: { kind: 'string', help: 'not shown', hidden: true },
} as const;

const SPEC: CommandSpec<typeof OPTIONS> = {
  name: 'thing',
  usage: ['thing ACTION [--name NAME] [--count N]', ' [--every DURATION]'],
  description: 'Does a thing.',
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  examples: ['thing go --name x --count 3'],
};

function failure(argv: string[]): AppError {
  try {
    parseCommandArgs(SPEC, argv);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error(`parsed ${JSON.stringify(argv)} without an error`);
}

describe('parseCommandArgs', () => {
  it('types the values: text, repeated text, whole numbers, durations in seconds, flags', () => {
    const r = parseCommandArgs(SPEC, [
      'go',
      '--name=x',
      '--tag',
      'a',
      '--tag',
      'b',
      '--count',
      '10',
      '--every',
      '2m',
      '--force',
    ]);
    expect(r.positionals).toEqual(['go']);
    expect(r.values).toEqual({ name: 'x', tag: ['a', 'b'], count: 10, every: 120, force: true });
    expect(parseCommandArgs(SPEC, ['go', '--every', '90']).values).toEqual({ every: 90 });
  });

  it.each([
    [['go', '--count', 'abc'], /--count must be a whole number from 1 to 10 \(got "abc"\)/],
    [['go', '--count', '0'], /--count must be a whole number from 1 to 10/],
    [['go', '--count', '11'], /--count must be a whole number from 1 to 10/],
    [['go', '--count', '2.5'], /--count must be a whole number/],
    [['go', '--count', '-1'], /--count needs a value/],
    [['go', '--every', 'soon'], /--every must be a duration .* from 5s to 1h \(got "soon"\)/],
    [['go', '--every', '2h'], /--every must be a duration/],
    [['go', '--bogus'], /^unknown thing option --bogus\n/],
    [['go', '--name'], /^--name needs a value\n/],
    [['go', '--force=yes'], /^--force takes no value\n/],
    [[], /^thing needs more arguments\n/],
    [['go', 'again'], /^unexpected argument "again"\n/],
  ])('refuses %j with INVALID_ARGUMENT and the usage', (argv, message) => {
    const e = failure(argv);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(message);
    // The whole usage, every line of it, follows the reason.
    expect(e.message).toContain(usageText(SPEC));
    expect(e.message).toContain('cinder-lvm-backup thing --help');
  });

  it('writes continuation lines of the usage under the command', () => {
    expect(usageText(SPEC).split('\n')).toEqual([
      'usage: cinder-lvm-backup thing ACTION [--name NAME] [--count N]',
      '                         [--every DURATION]',
    ]);
  });
});

describe('helpText', () => {
  it('shows usage, description, options with bounds and defaults, and examples', () => {
    const text = helpText(SPEC);
    expect(text.startsWith(usageText(SPEC))).toBe(true);
    expect(text).toContain('Does a thing.');
    expect(text).toMatch(/--count N +how many \(1\.\.10\)/);
    expect(text).toMatch(/--every DURATION +how often \(default 1m; 5s\.\.1h\)/);
    expect(text).toMatch(/--tag VALUE +a tag; may be repeated/);
    expect(text).not.toContain('--secret');
    expect(text).toContain('examples:\n  cinder-lvm-backup thing go --name x --count 3\n');
  });

  it('finds --help or -h before --', () => {
    expect(asksForHelp(['--volume', 'x', '--help'])).toBe(true);
    expect(asksForHelp(['-h'])).toBe(true);
    expect(asksForHelp(['--', '--help'])).toBe(false);
    expect(asksForHelp(['--volume', 'x'])).toBe(false);
  });
});

/** An example line as a shell would split it (quotes dropped), without globals and pipes. */
function exampleArgv(line: string): string[] {
  const words = (line.split(/ [|#] /)[0] ?? '').match(/"[^"]*"|\S+/g) ?? [];
  const out: string[] = [];
  for (let i = 0; i < words.length; i += 1) {
    const w = (words[i] ?? '').replace(/^"|"$/g, '');
    if (w === '--config') i += 1;
    else if (w !== '--json') out.push(w);
  }
  return out;
}

describe('every command', () => {
  const names = Object.keys(COMMANDS);

  it('is declared: a spec named after it, help on every option, at least one example', async () => {
    expect(names.length).toBeGreaterThanOrEqual(14);
    for (const name of names) {
      const { spec } = await COMMANDS[name]!.load();
      expect(spec.name, name).toBe(name);
      expect(spec.examples.length, name).toBeGreaterThan(0);
      expect(spec.usage[0]?.startsWith(name), name).toBe(true);
      for (const [option, o] of Object.entries(spec.options)) {
        expect(o.help.length, `${name} --${option}`).toBeGreaterThan(3);
      }
      expect(helpText(spec)).toContain(`examples:\n  cinder-lvm-backup ${name}`);
    }
    // Loading every command's module (the controller's pulls in AMQP, fastify, ...) takes
    // seconds on a loaded machine.
  }, 120_000);

  it('accepts each of its own examples', async () => {
    let checked = 0;
    for (const name of names) {
      const { spec } = await COMMANDS[name]!.load();
      for (const example of spec.examples) {
        const [command, ...argv] = exampleArgv(example);
        // Examples about another command (config check, in the controller's) are checked there.
        if (command !== name) continue;
        expect(() => parseCommandArgs(spec, argv), example).not.toThrow();
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(names.length);
  }, 120_000);
});

describe('the command lines of the guest scenarios and the demo', () => {
  // From test/storage-node/scenarios/*.sh, test/agent/guest-agent-e2e.sh and
  // test/demo/demo-guest.sh, which run only in the QEMU guest: their flags must stay valid.
  it.each([
    ['backup', '--lv', 'vg/lv', '--dest', '/out', '--json'],
    ['backup', '--lv', 'vg/lv', '--snapshot-size', '8M', '--dest', '/out', '--json'],
    ['verify', '--manifest', '/out/m.json', '--json'],
    ['restore', '--manifest', '/out/m.json', '--target', '/dev/vg/volume-x', '--json'],
    ['reap', '--json'],
    [
      'agent',
      '--host',
      'node1@lvm',
      '--dest',
      '/out/backups',
      '--poll-seconds',
      '1',
      '--lease-seconds',
      '10',
      '--stop-timeout',
      '60',
    ],
  ])('accepts %s %s …', async (name, ...argv) => {
    const { spec } = await COMMANDS[name]!.load();
    // --json is global: src/cli.ts takes it out before the command parses.
    expect(() =>
      parseCommandArgs(
        spec,
        argv.filter((a) => a !== '--json'),
      ),
    ).not.toThrow();
  });
});
