/**
 * Log lines under systemd: with `[DEFAULT] log_priority_prefix` each pino line starts with
 * its syslog priority, which journald reads (SyslogLevelPrefix=) so that
 * `journalctl -p warning` finds warnings (4) and errors (3).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priorityPrefixOf } from '../src/log.js';
import { freshDatabase, type FreshDatabase } from './db/fresh-database.js';

const ROOT = join(import.meta.dirname, '..');

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: join(ROOT, 'test', 'cli'),
          CLB_CONFIG: join(ROOT, 'test', 'cli', 'empty.conf'),
          ...env,
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

/** The `<N>` and pino level of each stderr line. */
function prefixes(stderr: string): [string, number][] {
  return stderr
    .trim()
    .split('\n')
    .map((line) => {
      const m = /^(<\d>)?\{"level":(\d+)/.exec(line);
      if (m === null) throw new Error(`not a log line: ${line}`);
      return [m[1] ?? '', Number(m[2])];
    });
}

describe('priorityPrefixOf', () => {
  it.each([
    [10, '<7>'],
    [20, '<7>'],
    [30, '<6>'],
    [40, '<4>'],
    [50, '<3>'],
    [60, '<2>'],
  ])('gives pino level %i the priority %s', (level, prefix) => {
    expect(priorityPrefixOf(`{"level":${level},"time":1,"msg":"x"}\n`)).toBe(prefix);
  });

  it('gives a line it cannot read info', () => {
    expect(priorityPrefixOf('not json\n')).toBe('<6>');
  });
});

describe('the logger', () => {
  it('writes warn lines at priority 4 and error lines at 3 when asked, plain JSON otherwise', async () => {
    const [on, off] = await Promise.all([
      run(['test/fixtures/log/log-every-level.ts', 'on']),
      run(['test/fixtures/log/log-every-level.ts', 'off']),
    ]);
    expect(on.code).toBe(0);
    expect(prefixes(on.stderr)).toEqual([
      ['<7>', 10],
      ['<7>', 20],
      ['<6>', 30],
      ['<4>', 40],
      ['<3>', 50],
      ['<2>', 60],
    ]);
    // Each line is still one JSON object after the prefix (journald strips the prefix).
    for (const line of on.stderr.trim().split('\n')) {
      expect(() => JSON.parse(line.slice(3)) as unknown).not.toThrow();
    }
    expect(prefixes(off.stderr).map(([p]) => p)).toEqual(['', '', '', '', '', '']);
  }, 30_000);
});

describe('a command with log_priority_prefix set', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await freshDatabase({ migrated: false, prefix: 'clb_log' });
  });
  afterAll(async () => {
    await db.drop();
  });

  it('prefixes its log lines (migrate, at info)', async () => {
    const r = await run(['src/cli.ts', 'migrate'], {
      DATABASE_URL: db.url,
      CLB_LOG_LEVEL: 'info',
      CLB_LOG_PRIORITY_PREFIX: 'true',
    });
    expect(r.code).toBe(0);
    const lines = prefixes(r.stderr);
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.every(([p, level]) => p === '<6>' && level === 30)).toBe(true);
  }, 60_000);
});
