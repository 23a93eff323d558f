import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_LIMITS, parsePolicy, type PolicyResult } from '../../src/policy/policy.js';

const defaults = DEFAULT_POLICY_LIMITS;

function policyOf(metadata: Record<string, unknown>): PolicyResult {
  return parsePolicy(metadata, defaults);
}

describe('parsePolicy: volumes without a policy', () => {
  it.each([
    ['no metadata', {}],
    ['unrelated metadata', { created_by: 'osharness', 'backup.mysql': 'true', backupx: 'daily' }],
  ])('%s is untagged', (_name, metadata) => {
    expect(policyOf(metadata)).toEqual({ kind: 'untagged' });
  });

  it.each(['off', 'OFF', ' disabled ', 'false', 'no', 'none'])('backup=%j is off', (value) => {
    expect(policyOf({ backup: value, 'backup:retention': 'garbage' })).toEqual({ kind: 'off' });
  });
});

describe('parsePolicy: valid policies', () => {
  it('makes a daily policy with the operator default retention', () => {
    expect(policyOf({ backup: 'daily' })).toEqual({
      kind: 'policy',
      policy: {
        schedule: { kind: 'interval', everySeconds: 86_400 },
        scheduleText: 'daily',
        retention: { daily: 7, weekly: 4, monthly: 6 },
        onEvents: [],
        excludes: [],
        mysqldump: null,
        freeze: null,
        consistency: null,
        incremental: { enabled: true, fullEvery: { kind: 'days', days: 7, text: 'weekly' } },
      },
    });
  });

  it.each([
    ['enabled', 'daily'],
    ['on', 'daily'],
    ['0 3 * * *', '0 3 * * *'],
    ['weekly', 'weekly'],
  ])('backup=%j gives schedule %j', (value, text) => {
    const r = policyOf({ backup: value });
    expect(r.kind === 'policy' && r.policy.scheduleText).toBe(text);
  });

  it('reads every key together', () => {
    const r = policyOf({
      backup: '30 2 * * *',
      'backup:retention': 'last=10',
      'backup:on': 'detach, resize,detach',
      'backup:exclude': '/var/cache/*,*.tmp',
      'backup:mysqldump': 'shop,wiki',
      'backup:freeze': '/var/lib/mysql',
      'backup:full': 'every=5',
    });
    expect(r).toEqual({
      kind: 'policy',
      policy: {
        schedule: { kind: 'cron', expr: '30 2 * * *' },
        scheduleText: '30 2 * * *',
        retention: { keepLast: 10 },
        onEvents: ['detach', 'resize'],
        excludes: ['/var/cache/*', '*.tmp'],
        mysqldump: { databases: ['shop', 'wiki'] },
        freeze: { mountpoints: ['/var/lib/mysql'] },
        consistency: null,
        incremental: { enabled: true, fullEvery: { kind: 'count', count: 5, text: 'every=5' } },
      },
    });
  });

  it('uses the operator default schedule for backup=on', () => {
    const r = parsePolicy({ backup: 'on' }, { ...defaults, defaultSchedule: '0 1 * * *' });
    expect(r.kind === 'policy' && r.policy.schedule).toEqual({ kind: 'cron', expr: '0 1 * * *' });
  });
});

describe('parsePolicy: policy errors', () => {
  it.each([
    ['an unknown schedule', { backup: 'sometimes' }, 'backup', /"sometimes" is not hourly/],
    ['too frequent a schedule', { backup: '* * * * *' }, 'backup', /more often than the minimum/],
    ['a bad cron field', { backup: '0 3 * * 9' }, 'backup', /day of week value 9/],
    [
      'a bad retention',
      { backup: 'daily', 'backup:retention': 'forever' },
      'backup:retention',
      /forever/,
    ],
    [
      'too long a retention',
      { backup: 'daily', 'backup:retention': 'last=5000' },
      'backup:retention',
      /exceeds the maximum/,
    ],
    [
      'an unknown event',
      { backup: 'daily', 'backup:on': 'reboot' },
      'backup:on',
      /"reboot" is not one of/,
    ],
    [
      'path traversal',
      { backup: 'daily', 'backup:exclude': '../../etc' },
      'backup:exclude',
      /"\.\."/,
    ],
    [
      'a control character',
      { backup: 'daily', 'backup:exclude': 'a\u0007' },
      'backup:exclude',
      /control/,
    ],
    [
      'a shell-laden database name',
      { backup: 'daily', 'backup:mysqldump': 'db;rm -rf /' },
      'backup:mysqldump',
      /not a plain name/,
    ],
    [
      'a relative freeze path',
      { backup: 'daily', 'backup:freeze': 'var/lib' },
      'backup:freeze',
      /not a plain absolute/,
    ],
    [
      'freezing /',
      { backup: 'daily', 'backup:freeze': '/' },
      'backup:freeze',
      /cannot freeze "\/"/,
    ],
    [
      'a freeze path with ..',
      { backup: 'daily', 'backup:freeze': '/a/../b' },
      'backup:freeze',
      /not a plain/,
    ],
    [
      'a typo in a key',
      { backup: 'daily', 'backup:retension': '7d' },
      'backup:retension',
      /unknown key/,
    ],
    ['a non-string value', { backup: 7 }, 'backup', /must be a string, not number/],
    ['an absurdly long value', { backup: 'd'.repeat(5000) }, 'backup', /longer than 1024/],
    ['a typo without backup=', { 'backup:retension': '7d' }, 'backup:retension', /unknown key/],
  ])('%s is an error on its key', (_name, metadata, key, reason) => {
    const r = policyOf(metadata);
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.problems.map((p) => p.key)).toEqual([key]);
      expect(r.message).toMatch(reason);
    }
  });

  it('reports every bad key at once', () => {
    const r = policyOf({ backup: 'sometimes', 'backup:retention': 'x', 'backup:on': 'y' });
    expect(r.kind === 'error' && r.problems.map((p) => p.key)).toEqual([
      'backup',
      'backup:retention',
      'backup:on',
    ]);
  });

  it('does not echo a huge hostile key back whole', () => {
    const key = `backup:${'z'.repeat(10_000)}`;
    const r = policyOf({ backup: 'daily', [key]: '1' });
    expect(r.kind === 'error' && r.message.length).toBeLessThan(300);
  });
});

describe('operator ceilings and hostile values', () => {
  it('refuses a retention that could keep more backups than the per-volume ceiling', () => {
    // 1098 days of hourly backups: ~26,000 full backups of one volume.
    const full = parsePolicy({
      backup: 'hourly',
      'backup:retention': '1098d',
      'backup:incremental': 'off',
    });
    expect(full.kind === 'error' ? full.message : '').toBe(
      'retention with schedule "hourly" could keep 26353 backups; the maximum per volume is 2500',
    );
    // Incremental (the default, weekly fulls): the oldest kept one keeps its chain too.
    const r = parsePolicy({ backup: 'hourly', 'backup:retention': '1098d' });
    expect(r.kind).toBe('error');
    expect(r.kind === 'error' ? r.message : '').toMatch(
      /and incremental chains of up to 167 backups \(backup:full=weekly; .*\) could keep 26519 backups; the maximum per volume is 2500/,
    );
    // The same age with a daily schedule keeps 1099 (and the oldest one's chain) at most:
    // within the default ceiling, over a lower one.
    expect(parsePolicy({ backup: 'daily', 'backup:retention': '1098d' }).kind).toBe('policy');
    expect(
      parsePolicy(
        { backup: 'daily', 'backup:retention': '1098d' },
        { ...DEFAULT_POLICY_LIMITS, maxBackupsPerVolume: 500 },
      ).kind,
    ).toBe('error');
    // Within the ceiling: accepted.
    expect(parsePolicy({ backup: 'hourly', 'backup:retention': '7d,last=10' }).kind).toBe('policy');
  });

  it('counts a cron schedule by its shortest gap', () => {
    const limits = { ...DEFAULT_POLICY_LIMITS, maxBackupsPerVolume: 100 };
    const every2h = {
      backup: '0 */2 * * *',
      'backup:retention': '7d',
      'backup:incremental': 'off',
    };
    expect(parsePolicy(every2h, limits).kind).toBe('policy'); // 85
    expect(parsePolicy({ ...every2h, 'backup:retention': '9d' }, limits).kind).toBe('error'); // 109
  });

  it('counts the chains a kept incremental backup keeps', () => {
    // Daily backups, weekly fulls (the defaults): chains of 7. The default retention
    // (daily=7, weekly=4, monthly=6) keeps 17 picks, each weekly or monthly one with up to 6
    // ancestors: 13 + 28 + 42 = 83 at most.
    const limits = { ...DEFAULT_POLICY_LIMITS, maxBackupsPerVolume: 83 };
    expect(parsePolicy({ backup: 'daily' }, limits).kind).toBe('policy');
    const tight = parsePolicy({ backup: 'daily' }, { ...limits, maxBackupsPerVolume: 82 });
    expect(tight.kind === 'error' ? tight.message : '').toBe(
      'retention with schedule "daily" and incremental chains of up to 7 backups (backup:full=weekly; a kept backup keeps its chain) could keep 83 backups; the maximum per volume is 82',
    );
    // The same without chains keeps 17.
    expect(
      parsePolicy(
        { backup: 'daily', 'backup:incremental': 'off' },
        { ...limits, maxBackupsPerVolume: 17 },
      ).kind,
    ).toBe('policy');
    // Hourly with weekly fulls: six monthly picks may each hold a week of hourly backups. The
    // default ceiling (2500) admits it; a lower one refuses it.
    expect(parsePolicy({ backup: 'hourly' }).kind).toBe('policy');
    const hourly = parsePolicy({ backup: 'hourly' }, { ...limits, maxBackupsPerVolume: 2003 });
    expect(hourly.kind === 'error' ? hourly.message : '').toMatch(/could keep 2004 backups/);
    // A year of hourly backups is refused by the default ceiling.
    expect(parsePolicy({ backup: 'hourly', 'backup:retention': '366d' }).kind).toBe('error');
    // A shorter chain fits: every=24 → 7 × 24 + 4 × 24 + 6 × 24 = 408.
    expect(parsePolicy({ backup: 'hourly', 'backup:full': 'every=24' }).kind).toBe('policy');
    // last=N and Nd overlap: the longer run plus its oldest one's chain, counted once.
    const lastAndAge = parsePolicy(
      { backup: 'daily', 'backup:retention': 'last=10,30d' },
      { ...limits, maxBackupsPerVolume: 37 },
    );
    expect(lastAndAge.kind).toBe('policy'); // 31 + 6
  });

  it('refuses control characters in a backup value', () => {
    for (const value of ['daily\n', 'da\u0000ily', 'daily\u001b[2J', 'daily\u0085']) {
      const r = parsePolicy({ backup: value });
      expect(r.kind, JSON.stringify(value)).toBe('error');
      expect(r.kind === 'error' ? r.message : '').toBe('backup holds a control character');
    }
    const ex = parsePolicy({ backup: 'daily', 'backup:exclude': '/tmp/*\r/var' });
    expect(ex.kind === 'error' ? ex.message : '').toBe('backup:exclude holds a control character');
  });
});

describe('backup:consistency', () => {
  it('demands a level the other keys can reach, and refuses one they cannot', () => {
    const ok = parsePolicy({
      backup: 'daily',
      'backup:mysqldump': 'shop',
      'backup:consistency': 'crash',
    });
    expect(ok).toMatchObject({ kind: 'policy', policy: { consistency: 'crash' } });
    const implied = parsePolicy({ backup: 'daily', 'backup:freeze': '/srv' });
    expect(implied).toMatchObject({ kind: 'policy', policy: { consistency: null } });
    expect(
      parsePolicy({
        backup: 'daily',
        'backup:freeze': '/srv',
        'backup:consistency': 'application',
      }),
    ).toMatchObject({
      kind: 'error',
      message: expect.stringMatching(/needs a database dump/) as string,
    });
    expect(parsePolicy({ backup: 'daily', 'backup:consistency': 'total' })).toMatchObject({
      kind: 'error',
    });
  });
});
