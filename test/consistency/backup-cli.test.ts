/**
 * `backup --device … --ssh … --mysqldump …` and `restore --dump-to` as a user runs them (a
 * child process through tsx): a real sshd as the instance, the real MariaDB, a loop device
 * as the volume. The dump is stored with the backup, verified, streamed back out and loaded
 * into a fresh database with identical content; a failed step fails a backup that demands
 * it and lowers the level of one that does not; tenant-style values never run anything.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { attach, detachAll, requireRoot } from '../engine/helpers/host-images.js';
import { createTestDatabase, sql, tableChecksums, type TestDatabase } from './helpers/mariadb.js';
import { startSshd, type SshdInstance } from './helpers/sshd-instance.js';

const ROOT = join(import.meta.dirname, '..', '..');
let work: string;
let dev: string;
let sshd: SshdInstance;
let db: TestDatabase;
const outputs: string[] = [];

async function cli(
  args: string[],
): Promise<{ code: number; json: Record<string, unknown> | null; stdout: string; stderr: string }> {
  const r = await runCommand('npx', ['tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    okExitCodes: [0, 1, 2],
    env: { CLB_RUN_DIR: join(work, 'run'), CLB_LOG_LEVEL: 'debug' },
    timeoutMs: 300_000,
  });
  outputs.push(r.stdout, r.stderr);
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { code: r.exitCode, json, stdout: r.stdout, stderr: r.stderr };
}

function sshFlags(knownHosts = sshd.knownHosts): string[] {
  return [
    '--ssh',
    `root@127.0.0.1:${sshd.port}`,
    '--ssh-key',
    sshd.clientKey,
    '--known-hosts',
    knownHosts,
    // The whole session start is bounded by it (see spawnSsh): 8.3 s here at load 18.
    '--connect-timeout',
    '30',
  ];
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-cli-dump-'));
  const image = join(work, 'vol.img');
  await runCommand('truncate', ['-s', '32M', image]);
  await runCommand('mkfs.ext4', ['-q', '-F', image]);
  dev = await attach(image, true);
  sshd = await startSshd();
  db = await createTestDatabase(work, 2000);
}, 180_000);

afterAll(async () => {
  await detachAll();
  await db?.drop();
  await sshd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  // Whatever ran above, the dump user's password reached no output or log line.
  expect(outputs.join('\n')).not.toContain(db.password);
});

describe('backup --ssh --mysqldump and restore --dump-to', () => {
  it('stores the dump with the backup (application), verifies it, and restores it into MariaDB with identical content', async () => {
    const dest = join(work, 'dest');
    const r = await cli([
      'backup',
      '--device',
      dev,
      '--dest',
      dest,
      ...sshFlags(),
      '--mysqldump',
      db.name,
      '--mysqldump-defaults',
      db.optionFile,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({
      status: 'ok',
      consistency: 'application',
      consistencyReport: {
        demanded: 'application',
        reached: 'application',
        reason: null,
        steps: [{ step: 'mysqldump', ok: true }],
      },
      dump: { file: 'mysqldump.sql.zst' },
    });
    const manifestPath = r.json?.['manifest'] as string;
    const dir = r.json?.['backupDir'] as string;
    expect(await readFile(join(dir, 'SHA256SUMS'), 'utf8')).toMatch(
      /^[0-9a-f]{64} {2}mysqldump\.sql\.zst$/m,
    );
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    expect(manifest['consistency']).toBe('application');
    expect(manifest['dump']).toMatchObject({
      format: 'sql+zstd',
      databases: [db.name],
      binlog: null,
    });

    const v = await cli(['verify', '--manifest', manifestPath, '--json']);
    expect(v.json).toMatchObject({ status: 'ok' });

    const out = await cli(['restore', '--manifest', manifestPath, '--dump-to', '-']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/-- Dump completed/);
    const fresh = `${db.name}_cli`;
    await sql(`CREATE DATABASE ${fresh};`);
    try {
      await sql(
        out.stdout
          .replace(/^CREATE DATABASE .*$/m, '')
          .replace(new RegExp(`^USE \`${db.name}\`;$`, 'm'), ''),
        fresh,
      );
      expect(await tableChecksums(fresh, 1e9)).toEqual(await tableChecksums(db.name, 1e9));
    } finally {
      await sql(`DROP DATABASE ${fresh};`);
    }

    const file = join(work, 'dump.sql');
    const toFile = await cli(['restore', '--manifest', manifestPath, '--dump-to', file, '--json']);
    expect(toFile.json).toMatchObject({ status: 'ok', file: 'mysqldump.sql.zst' });
    expect(await readFile(file, 'utf8')).toBe(out.stdout);
  }, 300_000);

  it('fails a backup that demands application when the dump cannot be taken, leaving nothing', async () => {
    const dest = join(work, 'dest-demanded');
    const r = await cli([
      'backup',
      '--device',
      dev,
      '--dest',
      dest,
      ...sshFlags(join(work, 'no_known_hosts')),
      '--mysqldump',
      db.name,
      '--mysqldump-defaults',
      db.optionFile,
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({
      status: 'failed',
      error: {
        code: 'SSH_HOST_KEY_UNKNOWN',
        message: expect.stringMatching(
          /application consistency was demanded but mysqldump failed/,
        ) as string,
      },
    });
    // Nothing but (at most) the empty per-source directory is left in the destination.
    const left = await readdir(dest, { recursive: true }).catch(() => []);
    expect(left.filter((e) => e.includes('/'))).toEqual([]);
  }, 300_000);

  it('records the lower level and why when --consistency crash does not demand the dump', async () => {
    const r = await cli([
      'backup',
      '--device',
      dev,
      '--dest',
      join(work, 'dest-lower'),
      ...sshFlags(join(work, 'no_known_hosts')),
      '--mysqldump',
      db.name,
      '--consistency',
      'crash',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({
      status: 'ok',
      consistency: 'as-provided',
      dump: null,
      consistencyReport: {
        demanded: 'crash',
        reached: 'crash',
        reason: expect.stringMatching(/^mysqldump: SSH_HOST_KEY_UNKNOWN: /) as string,
        steps: [{ step: 'mysqldump', ok: false, code: 'SSH_HOST_KEY_UNKNOWN' }],
      },
    });
    expect(await readdir(r.json?.['backupDir'] as string)).not.toContain('mysqldump.sql.zst');
  }, 300_000);

  it('refuses tenant-style values with shell metacharacters before anything runs', async () => {
    const canary = join(work, 'canary');
    for (const bad of [
      ['--mysqldump', `x;touch ${canary}`],
      ['--mysqldump', `$(touch ${canary})`],
      ['--freeze', `/mnt/$(touch ${canary})`],
      ['--freeze', `/mnt;touch ${canary}`],
      ['--mysqldump-defaults', `x;touch ${canary}`, '--mysqldump', 'all'],
    ]) {
      const r = await cli([
        'backup',
        '--device',
        dev,
        '--dest',
        join(work, 'dest-bad'),
        ...sshFlags(),
        ...bad,
        '--json',
      ]);
      expect(r.code).toBe(2);
      expect(r.json).toMatchObject({ status: 'failed', error: { code: 'INVALID_ARGUMENT' } });
    }
    const r = await cli([
      'backup',
      '--device',
      dev,
      '--dest',
      join(work, 'dest-bad'),
      '--ssh',
      `root@$(touch ${canary})`,
      '--json',
    ]);
    expect(r.code).toBe(2);
    expect(existsSync(canary)).toBe(false);
    expect(existsSync(join(work, 'dest-bad'))).toBe(false);
  }, 300_000);
});
