/**
 * The command line as an operator meets it (a child process through tsx): `--help` on each
 * command with its examples on stdout and exit 0, `--version`, unknown options and bad
 * numbers refused with exit 2 and the whole usage, all before any configuration is read.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.js';

const ROOT = join(import.meta.dirname, '..', '..');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      // No DATABASE_URL, OS_* or CLB_* of the developer's shell, and a configuration file
      // without a setting: what is tested here must not need one.
      {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: join(ROOT, 'test', 'cli'),
          CLB_CONFIG: join(ROOT, 'test', 'cli', 'empty.conf'),
        },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : err.code;
        if (typeof code !== 'number') reject(err ?? new Error('no exit code'));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs at most two at once (two cores). */
async function inPairs<T, R>(items: T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 2) {
    out.push(...(await Promise.all(items.slice(i, i + 2).map(f))));
  }
  return out;
}

describe('cinder-lvm-backup', () => {
  // One of each kind of command: no settings, settings required (status: the database),
  // configured by itself (enqueue, config), a daemon (agent). args.test.ts checks the help
  // of every command in-process; a process per command would cost a second each.
  it('answers --help with the usage and examples, exit 0, before any configuration is read', async () => {
    const names = ['backup', 'status', 'enqueue', 'config', 'agent', 'policy'];
    expect(names.every((n) => n in COMMANDS)).toBe(true);
    const results = await inPairs(names, (name) => cli([name, '--help']));
    names.forEach((name, i) => {
      const r = results[i]!;
      expect(r.code, name).toBe(0);
      expect(r.stderr, name).toBe('');
      expect(r.stdout, name).toMatch(new RegExp(`^usage: cinder-lvm-backup ${name}[ \\n]`));
      expect(r.stdout, name).toContain(`examples:\n  cinder-lvm-backup ${name}`);
    });
    // `help COMMAND` and -h say the same.
    const [help, short] = await Promise.all([cli(['help', 'agent']), cli(['agent', '-h'])]);
    expect(help.stdout).toBe(results[names.indexOf('agent')]!.stdout);
    expect(short.stdout).toBe(help.stdout);
  }, 240_000);

  it('prints the version of package.json', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const [text, json] = await Promise.all([cli(['--version']), cli(['--version', '--json'])]);
    expect(text).toEqual({ code: 0, stdout: `cinder-lvm-backup ${pkg.version}\n`, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual({ status: 'ok', version: pkg.version });
  }, 60_000);

  it('refuses an unknown option with the whole usage, exit 2, before reading a configuration', async () => {
    // status needs [database] connection: had it been read first, this would be 78.
    const r = await cli(['status', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      'error: INVALID_ARGUMENT: unknown status option --bogus',
      'usage: cinder-lvm-backup status [--project ID]',
      '(cinder-lvm-backup status --help for every option)',
      '',
    ]);
    // Every line of a several-line usage reaches stderr.
    const enqueue = await cli(['enqueue', 'backup', '--volm', 'x']);
    expect(enqueue.code).toBe(2);
    expect(enqueue.stderr).toContain('usage: cinder-lvm-backup enqueue backup|verify|prune');
    expect(enqueue.stderr).toContain('       cinder-lvm-backup enqueue restore --volume ID');
  }, 60_000);

  it('refuses --poll-ms abc and a zero --concurrency with INVALID_ARGUMENT, exit 2', async () => {
    const [poll, agent] = await Promise.all([
      cli([
        'enqueue',
        'backup',
        '--volume',
        '0b1c2d3e-0000-4000-8000-000000000001',
        '--wait',
        '--poll-ms',
        'abc',
      ]),
      cli(['agent', '--host', 'n1@lvm', '--dest', '/b', '--concurrency', '0']),
    ]);
    expect(poll.code).toBe(2);
    expect(poll.stderr).toMatch(
      /^error: INVALID_ARGUMENT: --poll-ms must be a whole number from 50 to 60000 \(got "abc"\)\nusage: /,
    );
    expect(agent.code).toBe(2);
    expect(agent.stderr).toMatch(
      /^error: INVALID_ARGUMENT: --concurrency must be a whole number from 1 to 64/,
    );
  }, 60_000);

  it('with --json, reports the refusal as one object whose message carries the usage', async () => {
    const r = await cli(['backup', '--json', '--dest', '/tmp/x']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as {
      status: string;
      error: { code: string; message: string };
    };
    expect(out.status).toBe('failed');
    expect(out.error.code).toBe('INVALID_ARGUMENT');
    expect(out.error.message).toMatch(
      /^give exactly one of --lv or --device\nusage: cinder-lvm-backup backup /,
    );
  }, 60_000);

  it('refuses an unknown command or top-level option with the command list', async () => {
    const [command, option, none] = await Promise.all([cli(['bakup']), cli(['--bogus']), cli([])]);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/^error: INVALID_ARGUMENT: unknown command "bakup"\nusage: /);
    expect(command.stderr).toContain('  enqueue ');
    expect(option.stderr).toMatch(/^error: INVALID_ARGUMENT: unknown option "--bogus"/);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^usage: cinder-lvm-backup /);
  }, 60_000);
});
