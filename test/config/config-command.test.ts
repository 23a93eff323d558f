/**
 * `config check` and `config show` as an operator runs them (a child process through
 * tsx), and the exit code 78 (EX_CONFIG) of a command whose configuration is bad.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS_SCHEMA, type SectionSpec } from '../../src/config/settings-schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SAMPLE = join(ROOT, 'deploy', 'cinder-lvm-backup.conf.sample');

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      // Only what is given: no DATABASE_URL or OS_* of the developer's shell leaks in.
      {
        cwd: ROOT,
        env: { PATH: process.env['PATH'] ?? '', HOME: join(ROOT, 'test', 'config'), ...env },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : err.code;
        if (typeof code !== 'number') reject(err ?? new Error('no exit code'));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('config check', () => {
  it('passes the commented sample for every process', async () => {
    const r = await cli(['--config', SAMPLE, 'config', 'check', '--for', 'all']);
    expect(r.stdout, r.stderr).toContain('configuration ok');
    expect(r.code).toBe(0);
  });

  it('lists every problem and exits 78', async () => {
    const r = await cli(['config', 'check', '--for', 'controller', '--json'], {
      CLB_CONFIG: SAMPLE,
      CLB_LOG_LEVEL: 'loud',
      CLB_PREFETCH: '0',
      AMQP_URL: 'http://not-rabbit',
    });
    expect(r.code).toBe(78);
    const out = JSON.parse(r.stdout) as { status: string; problems: { setting: string }[] };
    expect(out.status).toBe('failed');
    expect(out.problems.map((p) => p.setting)).toEqual([
      '[DEFAULT] log_level',
      '[DEFAULT] transport_url',
      '[notifications] prefetch',
    ]);
  });

  it('says a named file that does not exist is a problem', async () => {
    const r = await cli([
      '--config',
      join(ROOT, 'test', 'config', 'absent.conf'),
      'config',
      'check',
    ]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('absent.conf does not exist');
  });
});

describe('config show', () => {
  it('prints each value with its source and masks secrets', async () => {
    const r = await cli(['--config', SAMPLE, 'config', 'show', '--json'], {
      DATABASE_URL: 'postgresql://clb:db-secret-1@db/clb',
      OS_PASSWORD: 'os-secret-2',
      OS_APPLICATION_CREDENTIAL_SECRET: 'os-secret-3',
      CLB_SMTP_URL: 'smtp://mailer:mail-secret-4@mail:25',
      CLB_MAIL_FROM: 'clb@example.org',
      CLB_MAIL_TO: 'ops@example.org',
    });
    expect(r.code, r.stderr).toBe(0);
    for (const secret of [
      'db-secret-1',
      'os-secret-2',
      'os-secret-3',
      'mail-secret-4',
      'CHANGE_ME',
    ]) {
      expect(r.stdout).not.toContain(secret);
    }
    const out = JSON.parse(r.stdout) as {
      settings: { setting: string; value: string | null; source: string }[];
    };
    const get = (s: string) => out.settings.find((x) => x.setting === s);
    expect(get('[database] connection')).toMatchObject({
      value: 'postgresql://clb:****@db/clb',
      source: 'env DATABASE_URL',
    });
    expect(get('[service_credentials] password')).toMatchObject({
      value: '****',
      source: 'env OS_PASSWORD',
    });
    expect(get('[DEFAULT] transport_url')?.value).toMatch(
      /^rabbit:\/\/cinder-lvm-backup:\*\*\*\*@rabbit1/,
    );
    expect(get('[DEFAULT] time_zone')).toMatchObject({ value: 'Europe/Paris', source: 'file' });
    expect(get('[controller] poll_interval')).toMatchObject({ value: '300', source: 'default' });
    expect(get('[ssh] user')).toMatchObject({ value: null, source: '-' });
  });
});

describe('a command with a bad configuration', () => {
  it('fails with CONFIG_INVALID and exit 78, naming every problem, before it starts', async () => {
    const r = await cli(['status'], { CLB_LOG_LEVEL: 'loud', CLB_TIME_ZONE: 'Nowhere/Land' });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/^error: CONFIG_INVALID: the configuration has 3 problems:\n/);
    expect(r.stderr).toContain('[DEFAULT] log_level (from CLB_LOG_LEVEL): must be one of');
    expect(r.stderr).toContain('[DEFAULT] time_zone (from CLB_TIME_ZONE): must be a known IANA');
    expect(r.stderr).toContain(
      '[database] connection: not set (in the file, or with DATABASE_URL)',
    );
  });
});

describe('the sample', () => {
  it('shows every option of every section', async () => {
    const text = await readFile(SAMPLE, 'utf8');
    const shown = new Map<string, Set<string>>();
    let section = '';
    for (const line of text.split('\n')) {
      const header = /^\[(\w+)\]$/.exec(line);
      if (header !== null) section = header[1] ?? '';
      const option = /^#?(\w+) =/.exec(line);
      if (option !== null) {
        const set = shown.get(section) ?? new Set<string>();
        set.add(option[1] ?? '');
        shown.set(section, set);
      }
    }
    for (const spec of Object.values<SectionSpec>(SETTINGS_SCHEMA)) {
      for (const [option, o] of Object.entries(spec.options)) {
        expect(shown.get(spec.name)?.has(option), `[${spec.name}] ${option}`).toBe(true);
        for (const v of o.env) expect(text, `${v} of [${spec.name}] ${option}`).toContain(v);
      }
    }
  });
});
