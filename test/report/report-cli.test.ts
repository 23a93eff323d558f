/**
 * `cinder-lvm-backup report` by hand: the same report printed as text or JSON, or sent to
 * the configured recipients and recorded; a bad --since is a usage error.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMailReports } from '../../src/db/mail-reports.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { dailyVolume, failedBackup, successfulBackup } from './report-fixtures.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let db: FreshDatabase;
let sink: SmtpSink;

beforeAll(async () => {
  db = await freshDatabase();
  sink = await startSmtpSink();
  const web = await dailyVolume(db.pool, 'web');
  const dbv = await dailyVolume(db.pool, 'db');
  await successfulBackup(db.pool, web, {
    start: new Date(Date.now() - 2 * 3600_000),
    seconds: 4530,
    bytesRead: 2 ** 30,
    bytesWritten: 2 ** 29,
  });
  await failedBackup(db.pool, dbv, {
    at: new Date(Date.now() - 600_000),
    code: 'MOUNT_FAILED',
    message: 'wrong fs type',
  });
});
afterAll(async () => {
  await sink?.close();
  await db?.drop();
});

async function report(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'report', ...args],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url, CLB_LOG_LEVEL: 'warn', ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// Each case starts node + tsx, which takes seconds on a loaded machine.
describe('report command', { timeout: 120_000 }, () => {
  it('prints the report of the last 24 hours', async () => {
    const r = await report([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('cinder-lvm-backup report last 24h');
    expect(r.stdout).toContain('Volumes: 1 failed, 0 too old, 1 ok');
    expect(r.stdout).toContain('MOUNT_FAILED: wrong fs type');
    expect(r.stdout).toContain('1 h 15 min');
  });

  it('gives the report as JSON, and a shorter window leaves older runs out', async () => {
    const r = await report(['--since', '30min', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      status: string;
      subject: string;
      report: { counts: Record<string, number>; totals: { runs: number } };
    };
    expect(out.status).toBe('ok');
    expect(out.report.counts).toMatchObject({ failed: 1, ok: 0, noRun: 1 });
    expect(out.report.totals.runs).toBe(1);
    expect(out.subject).toContain('1 failed, 0 too old, 0 ok');
  });

  it('sends it with --send and records what was sent', async () => {
    const r = await report(['--send', '--json'], {
      CLB_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      CLB_MAIL_FROM: 'backup@cloud.example',
      CLB_MAIL_TO: 'a@cloud.example,b@cloud.example',
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', sent: true });
    expect(sink.mails).toHaveLength(1);
    expect(sink.mails[0]?.to).toEqual(['a@cloud.example', 'b@cloud.example']);
    const [row] = await listMailReports(db.pool);
    expect(row).toMatchObject({ kind: 'manual', state: 'sent', attempts: 0 });
    expect(row?.messageId).toBe(sink.mails[0]?.headers.get('message-id'));
  });

  it('refuses a malformed --since and --send without a mail server', async () => {
    const bad = await report(['--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT: --since takes a duration/);
    const noServer = await report(['--send'], { CLB_SMTP_URL: '' });
    expect(noServer.code).toBe(78);
    expect(noServer.stderr).toMatch(/CONFIG_INVALID: --send needs \[mail\] smtp_url, from and to/);
  });
});
