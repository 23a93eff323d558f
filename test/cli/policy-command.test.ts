/**
 * `policy check KEY=VALUE...` as an operator runs it (a child process through tsx): the
 * policy and next due times in a zone across a DST change, every problem at once, JSON.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'policy', 'check', ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: join(ROOT, 'test', 'cli'),
          CLB_CONFIG: join(ROOT, 'test', 'cli', 'empty.conf'),
          CLB_MIN_BACKUP_INTERVAL: '1h',
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

describe('policy check', () => {
  it('shows the policy and the next due times on the zone clock, the skipped 02:30 at 03:00', async () => {
    const r = await cli([
      'backup=30 2 * * *',
      'backup:retention=last=10',
      '--next',
      '3',
      '--time-zone',
      'Europe/Paris',
      '--from',
      '2026-03-27T12:00:00Z',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('schedule:    30 2 * * * (cron)\n');
    expect(r.stdout).toContain('retention:   {"keepLast":10}\n');
    expect(r.stdout).toContain(
      'next 3 due times in Europe/Paris:\n' +
        '  2026-03-28 02:30 +01:00  (2026-03-28T01:30:00.000Z)\n' +
        '  2026-03-29 03:00 +02:00  (2026-03-29T01:00:00.000Z)\n' +
        '  2026-03-30 02:30 +02:00  (2026-03-30T00:30:00.000Z)\n',
    );
  }, 30_000);

  it('lists every problem and exits 1', async () => {
    const r = await cli(['backup=hourly', 'backup:retention=last=1000', 'backup:bogus=1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^problem: backup:bogus: unknown key/m);
    expect(r.stderr).toMatch(/^problem: backup:retention: .*last=1000/m);
    expect(r.stderr).toMatch(/^error: POLICY_INVALID: 2 problems/m);
  }, 30_000);

  it('answers in JSON, with the times in the zone and in UTC', async () => {
    const r = await cli([
      'backup=30 1 * * *',
      '--json',
      '--next',
      '2',
      '--time-zone',
      'America/New_York',
      '--from',
      '2026-10-31T12:00:00Z',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      status: 'ok',
      result: 'policy',
      timeZone: 'America/New_York',
      policy: { scheduleText: '30 1 * * *' },
      // 01:30 happens twice on 2026-11-01: the first (EDT) only.
      next: [
        { at: '2026-11-01T05:30:00.000Z', local: '2026-11-01 01:30 -04:00' },
        { at: '2026-11-02T06:30:00.000Z', local: '2026-11-02 01:30 -05:00' },
      ],
    });
  }, 30_000);

  it('refuses words that are not KEY=VALUE and a bad --from with the usage', async () => {
    const [word, from] = await Promise.all([
      cli(['backup']),
      cli(['backup=daily', '--from', 'tomorrow']),
    ]);
    expect(word.code).toBe(2);
    expect(word.stderr).toMatch(/^error: INVALID_ARGUMENT: "backup" is not KEY=VALUE\nusage: /);
    expect(from.code).toBe(2);
    expect(from.stderr).toMatch(/--from "tomorrow" is not an ISO 8601 time/);
  }, 30_000);
});
