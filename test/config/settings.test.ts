import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { searchPaths } from '../../src/config/clouds-yaml.js';
import { parseConfigText, readConfigFile } from '../../src/config/config-file.js';
import { credentialsFromSettings } from '../../src/config/openstack-credentials.js';
import {
  configFileOf,
  evaluateSettings,
  inspectSettings,
  maskText,
  settingsOf,
} from '../../src/config/settings.js';
import { parseTransportUrl } from '../../src/config/transport-url.js';
import { AppError } from '../../src/errors.js';

function fileOf(text: string) {
  return parseConfigText(text, '/etc/cinder-lvm-backup/test.conf');
}

function problemsOf(fn: () => unknown): { setting: string; from?: string; reason: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFIG_INVALID');
    return (err as AppError).details?.['problems'] as {
      setting: string;
      from?: string;
      reason: string;
    }[];
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('settings', () => {
  it('gives typed defaults when nothing is set', () => {
    const s = settingsOf({});
    expect(s.general).toMatchObject({ timeZone: 'UTC', runDir: '/run/cinder-lvm-backup' });
    expect(s.general.logLevel).toBeUndefined();
    expect(s.database.connection).toBeUndefined();
    expect(s.controller.pollInterval).toBe(300);
    expect(s.policy.minBackupInterval).toBe(3600);
    expect(s.retention.default).toEqual({ daily: 7, weekly: 4, monthly: 6 });
    expect(s.api.listen).toEqual({ host: '127.0.0.1', port: 8798 });
    expect(s.mail.reportAt).toEqual({ hour: 7, minute: 0 });
    expect(s.ssh).toMatchObject({ port: 22, connectTimeout: 10, freezeBound: 10 });
  });

  it('reads OpenStack-style sections from the file', () => {
    const s = settingsOf(
      {},
      fileOf(`
[DEFAULT]
transport_url = rabbit://u:p@mq1:5672,u:p@mq2:5672/cinder
time_zone = Europe/Paris

[database]
connection = postgresql://clb:pw@db:5432/clb

[keystone_authtoken]
auth_url = https://keystone:5000/v3
username = clb
password = "pa;ss#word"

[agent]
hosts = node1@lvm, node1@ssd=fast
backup_dest = /srv/backups
lease = 2m

[mail]
smtp_url = smtp://mail:25
from = clb@example.org
to = a@example.org, b@example.org
report_at = 6:30
`),
    );
    expect(s.general.transportUrl).toEqual([
      'amqp://u:p@mq1:5672/cinder',
      'amqp://u:p@mq2:5672/cinder',
    ]);
    expect(s.general.timeZone).toBe('Europe/Paris');
    expect(s.database.connection).toBe('postgresql://clb:pw@db:5432/clb');
    expect(s.openstack).toMatchObject({
      authUrl: 'https://keystone:5000/v3',
      password: 'pa;ss#word',
    });
    expect(s.agent.hosts).toEqual([
      { host: 'node1@lvm', vg: 'cinder-volumes' },
      { host: 'node1@ssd', vg: 'fast' },
    ]);
    expect(s.agent.lease).toBe(120);
    expect(s.mail.to).toEqual(['a@example.org', 'b@example.org']);
    expect(s.mail.reportAt).toEqual({ hour: 6, minute: 30 });
  });

  it('lets the environment win over the file and says where each value came from', () => {
    const file = fileOf('[controller]\npoll_interval = 600\nschedule_interval = 30\n');
    const env = { CLB_POLL_INTERVAL: '15m' };
    expect(settingsOf(env, file).controller).toMatchObject({
      pollInterval: 900,
      scheduleInterval: 30,
    });
    const { entries } = evaluateSettings(env, file);
    const source = (key: string) => entries.find((e) => e.key === key)?.source;
    expect(source('controller.poll_interval')).toEqual({
      kind: 'env',
      variable: 'CLB_POLL_INTERVAL',
    });
    expect(source('controller.schedule_interval')).toEqual({ kind: 'file', path: file.path });
    expect(source('controller.leader_retry')).toEqual({ kind: 'default' });
    expect(source('database.connection')).toEqual({ kind: 'unset' });
  });

  it('takes the first of several variables of one setting (AMQP_URL before CLB_TRANSPORT_URL)', () => {
    const s = settingsOf({ AMQP_URL: 'amqp://a', CLB_TRANSPORT_URL: 'amqp://b' });
    expect(s.general.transportUrl).toEqual(['amqp://a']);
    expect(
      settingsOf({ AMQP_URL: '', CLB_TRANSPORT_URL: 'amqp://b' }).general.transportUrl,
    ).toEqual(['amqp://b']);
  });

  it('reports every problem at once, each with its setting, source and reason', () => {
    const file = fileOf(`
[DEFAULT]
time_zone = Mars/Olympus

[database]
conection = postgresql://typo

[agent]
concurrency = 0
hosts[] = a@b

[bogus]
x = 1
`);
    const problems = problemsOf(() =>
      settingsOf(
        { CLB_LOG_LEVEL: 'loud', CLB_PREFETCH: 'many', CLB_API_LISTEN: 'localhost' },
        file,
      ),
    );
    const lines = problems.map((p) => `${p.setting} | ${p.from ?? ''} | ${p.reason}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\[bogus\] \| .*test\.conf \| unknown section/),
        expect.stringMatching(
          /^\[database\] conection \| .*test\.conf \| unknown option \(known: connection\)/,
        ),
        expect.stringMatching(
          /^\[DEFAULT\] log_level \| CLB_LOG_LEVEL \| must be one of trace, debug/,
        ),
        expect.stringMatching(
          /^\[DEFAULT\] time_zone \| .*test\.conf \| must be a known IANA time zone/,
        ),
        expect.stringMatching(
          /^\[notifications\] prefetch \| CLB_PREFETCH \| must be a whole number from 1 to 1000/,
        ),
        expect.stringMatching(
          /^\[agent\] concurrency \| .*test\.conf \| must be a whole number from 1 to 64/,
        ),
        expect.stringMatching(/^\[agent\] hosts \| .*test\.conf \| must be one value/),
        expect.stringMatching(/^\[api\] listen \| CLB_API_LISTEN \| must be HOST:PORT/),
      ]),
    );
    expect(problems).toHaveLength(8);
    // The one error names them all, one per line.
    try {
      settingsOf(
        { CLB_LOG_LEVEL: 'loud', CLB_PREFETCH: 'many', CLB_API_LISTEN: 'localhost' },
        file,
      );
    } catch (err) {
      expect((err as Error).message.split('\n')).toHaveLength(9);
      expect((err as Error).message).toMatch(/^the configuration has 8 problems:/);
    }
  });

  it('reports missing required settings together with bad values', async () => {
    const report = await inspectSettings({
      env: { CLB_CONFIG: '', CLB_POLL_INTERVAL: '1' },
      configFile: join(import.meta.dirname, 'no-such.conf'),
      require: ['database.connection', 'general.transport_url'],
    });
    expect(report.config).toBeNull();
    expect(report.problems.map((p) => p.setting)).toEqual([
      expect.stringContaining('no-such.conf'),
      '[DEFAULT] transport_url',
      '[database] connection',
      '[controller] poll_interval',
    ]);
    expect(report.problems[0]?.reason).toMatch(/does not exist/);
    expect(report.problems[1]?.reason).toBe(
      'not set (in the file, or with AMQP_URL or CLB_TRANSPORT_URL)',
    );
  });

  it.each([
    ['CLB_PREFETCH', '1001', /from 1 to 1000/],
    ['CLB_PREFETCH', '-1', /whole number/],
    ['CLB_POLL_INTERVAL', '4', /from 5s to 1d/],
    ['CLB_POLL_INTERVAL', '2d', /from 5s to 1d/],
    ['CLB_POLL_INTERVAL', '5 minutes', /must be a duration/],
    ['CLB_MIN_BACKUP_INTERVAL', '30s', /from 1m to 366d/],
    ['CLB_API_LISTEN', '127.0.0.1:70000', /port 0 to 65535/],
    ['CLB_REPORT_AT', '24:00', /HH:MM/],
    ['CLB_MAIL_TO', 'not-an-address', /e-mail address/],
    ['CLB_RUN_DIR', 'relative/run', /absolute path/],
    ['CLB_RUN_DIR', '/run/../etc', /absolute path/],
    ['CLB_AGENT_HOSTS', 'node1@lvm;rm', /HOST@BACKEND/],
    [
      'CLB_NOTIFICATION_EXCHANGES',
      Array.from({ length: 17 }, (_, i) => `x${i}`).join(','),
      /at most 16/,
    ],
    ['DATABASE_URL', 'mysql://db/x', /postgres:\/\/, postgresql:\/\//],
    ['AMQP_URL', 'rabbit://', /empty host/],
    ['OS_INSECURE', 'maybe', /true or false/],
    ['CLB_DEFAULT_SCHEDULE', '*/5 * * * *', /more often than the minimum interval of 1h/],
    ['CLB_DEFAULT_RETENTION', 'daily=100', /keeps 100 where max_daily allows 62/],
    ['CLB_AGENT_RETRY_BASE', '2h', /longer than retry_cap \(1h\)/],
    ['CLB_SMTP_URL', 'smtp://mail:25', /from and to are needed/],
  ])('holds %s=%s to its bounds', (name, value, reason) => {
    const problems = problemsOf(() => settingsOf({ [name]: value }));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.reason).toMatch(reason);
  });

  it('accepts the edges of each range', () => {
    const s = settingsOf({
      CLB_PREFETCH: '1000',
      CLB_POLL_INTERVAL: '1d',
      CLB_MIN_BACKUP_INTERVAL: '60',
      CLB_API_LISTEN: '[::1]:0',
      CLB_REPORT_AT: '23:59',
      OS_INSECURE: 'yes',
    });
    expect(s.notifications.prefetch).toBe(1000);
    expect(s.controller.pollInterval).toBe(86_400);
    expect(s.policy.minBackupInterval).toBe(60);
    expect(s.api.listen).toEqual({ host: '::1', port: 0 });
    expect(s.openstack.insecure).toBe(true);
  });

  it('reads the archive bounds: sizes with binary units, a decimal ratio, 0 for off', () => {
    const d = settingsOf({}).agent;
    expect(d).toMatchObject({
      archiveTimeout: 86_400,
      archiveMinRate: 2 * 1024 ** 2,
      archiveMaxRatio: 2,
      archiveSlack: 1024 ** 3,
    });
    const s = settingsOf({
      CLB_ARCHIVE_TIMEOUT: '0',
      CLB_ARCHIVE_MIN_RATE: '512K',
      CLB_ARCHIVE_MAX_RATIO: '1.5',
      CLB_ARCHIVE_SLACK: '1.5GiB',
    }).agent;
    expect(s).toMatchObject({
      archiveTimeout: 0,
      archiveMinRate: 512 * 1024,
      archiveMaxRatio: 1.5,
      archiveSlack: 1.5 * 1024 ** 3,
    });
    const bad = problemsOf(() =>
      settingsOf({ CLB_ARCHIVE_MIN_RATE: 'fast', CLB_ARCHIVE_MAX_RATIO: '-1' }),
    );
    expect(bad.map((p) => p.setting).sort()).toEqual([
      '[agent] archive_max_ratio',
      '[agent] archive_min_rate',
    ]);
  });

  it('reads the project quota and per-project overrides, and names a bad entry', () => {
    expect(settingsOf({}).retention).toMatchObject({ maxProjectBytes: 0 });
    expect(settingsOf({}).retention.projectQuotas).toBeUndefined();
    const r = settingsOf({
      CLB_MAX_PROJECT_BYTES: '500G',
      CLB_PROJECT_QUOTAS: 'a1b2=2T, c3d4=0',
    }).retention;
    expect(r.maxProjectBytes).toBe(500 * 1024 ** 3);
    expect(r.projectQuotas).toEqual([
      ['a1b2', 2 * 1024 ** 4],
      ['c3d4', 0],
    ]);
    const bad = problemsOf(() => settingsOf({ CLB_PROJECT_QUOTAS: 'a1b2=lots' }));
    expect(bad).toEqual([
      expect.objectContaining({
        setting: '[retention] project_quotas',
        reason: expect.stringContaining('"a1b2=lots" is not PROJECT_ID=SIZE') as string,
      }),
    ]);
  });

  it('refuses [service_credentials] and [keystone_authtoken] together', () => {
    const problems = problemsOf(() =>
      settingsOf(
        {},
        fileOf('[service_credentials]\nusername = a\n[keystone_authtoken]\nusername = b\n'),
      ),
    );
    expect(problems.map((p) => p.reason)).toEqual(['give one of these sections, not both']);
  });
});

describe('transport_url', () => {
  it('turns each node of a cluster into an amqp URL, ssl=1 into amqps', () => {
    expect(parseTransportUrl('rabbit://u:p@h1:5672,h2:5673/vh?ssl=1&heartbeat=30')).toEqual({
      urls: ['amqps://u:p@h1:5672/vh?heartbeat=30', 'amqps://u:p@h2:5673/vh?heartbeat=30'],
    });
    expect(parseTransportUrl('amqp://guest:guest@127.0.0.1:5672')).toEqual({
      urls: ['amqp://guest:guest@127.0.0.1:5672'],
    });
  });

  it.each(['http://h', 'rabbit://h1,,h2/', 'rabbit://u:p@h:x/', 'not a url'])('refuses %s', (v) => {
    expect(parseTransportUrl(v)).toHaveProperty('reason');
  });
});

describe('masking', () => {
  it('hides passwords in URLs, every node of a transport URL, and secrets whole', () => {
    expect(maskText('rabbit://u:p1@h1,v:p2@h2/x', 'url-password')).toBe(
      'rabbit://u:****@h1,v:****@h2/x',
    );
    expect(maskText('postgresql://clb:s3cret@db/clb', 'url-password')).toBe(
      'postgresql://clb:****@db/clb',
    );
    expect(maskText('postgresql://clb@db/clb', 'url-password')).toBe('postgresql://clb@db/clb');
    expect(maskText('hunter2', 'secret')).toBe('****');
  });
});

describe('the configuration file', () => {
  it('may be missing at the default location but not when named', async () => {
    const absent = join(import.meta.dirname, 'absent.conf');
    expect(await readConfigFile(absent, true)).toBeNull();
    await expect(readConfigFile(absent, false)).rejects.toThrow(/absent\.conf does not exist/);
    expect(configFileOf({ env: {} })).toEqual({
      path: '/etc/cinder-lvm-backup/cinder-lvm-backup.conf',
      named: false,
    });
    expect(configFileOf({ env: { CLB_CONFIG: '/x.conf' } })).toEqual({
      path: '/x.conf',
      named: true,
    });
    expect(configFileOf({ env: { CLB_CONFIG: '/x.conf' }, configFile: '/y.conf' })).toEqual({
      path: '/y.conf',
      named: true,
    });
  });
});

describe('OpenStack credentials from the settings', () => {
  it('merge [service_credentials] with OS_* (the variables win)', async () => {
    const env = { OS_PASSWORD: 'from-env' };
    const s = settingsOf(
      env,
      fileOf(
        '[service_credentials]\nauth_url = http://k:5000\nuser_id = u1\npassword = from-file\nproject_id = p1\n',
      ),
    );
    const c = await credentialsFromSettings(s.openstack, env);
    expect(c.auth).toMatchObject({ userId: 'u1', password: 'from-env', projectId: 'p1' });
  });

  it('never search the working directory for clouds.yaml', () => {
    const env = { HOME: '/home/clb', OS_CLIENT_CONFIG_FILE: '/etc/clb/clouds.yaml' };
    expect(searchPaths('clouds.yaml', env)).toEqual([
      '/etc/clb/clouds.yaml',
      '/home/clb/.config/openstack/clouds.yaml',
      '/etc/openstack/clouds.yaml',
    ]);
  });

  it('read only the clouds.yaml that clouds_file names', async () => {
    const env = { OS_CLOUD: 'prod', OS_CLIENT_CONFIG_FILE: join(import.meta.dirname, 'none.yaml') };
    const err = (await credentialsFromSettings(settingsOf(env).openstack, env).catch(
      (e: unknown) => e,
    )) as AppError;
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe(
      `OS_CLOUD=prod but no clouds.yaml found (looked in ${join(import.meta.dirname, 'none.yaml')})`,
    );
  });
});
