import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordBackupFailure, markBackupPruned, startBackup } from '../../src/db/backups.js';
import { listBackupStatus } from '../../src/db/views.js';
import { claimJobs, enqueueJob, failJob } from '../../src/jobs/queue.js';
import { CHILD_TEST_TIMEOUT_MS, CHILD_WAIT_MS } from '../child-wait.js';
import { addSucceededBackup } from './backup-rows.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';
import { addVolume } from './volume-fixtures.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const POLICY = { scheduleText: 'daily', retention: { daily: 7, weekly: 4 }, excludes: ['/tmp/*'] };

async function success(volumeId: string, bytes: number, startedAt: string): Promise<number> {
  const id = await addSucceededBackup(db.pool, volumeId, {
    bytesWritten: bytes,
    throughputBytesPerS: 50 * 1048576,
    snapshotPeakPercent: 2,
  });
  await db.pool.query('UPDATE backups SET started_at = $2, finished_at = $2 WHERE id = $1', [
    id,
    startedAt,
  ]);
  return id;
}

describe('views for people', () => {
  it('backup_status shows one line per tagged volume with its last runs and what is kept', async () => {
    const tagged = await addVolume(db.pool, 'n1@lvm', { name: 'web' });
    await db.pool.query(
      `UPDATE volumes SET policy = $2, next_due_at = '2030-01-01Z' WHERE id = $1`,
      [tagged.id, JSON.stringify(POLICY)],
    );
    const broken = await addVolume(db.pool, 'n1@lvm', { name: 'db' });
    await db.pool.query(
      `UPDATE volumes SET policy_error = 'backup:retension is not a key' WHERE id = $1`,
      [broken.id],
    );
    await addVolume(db.pool, 'n1@lvm', { name: 'untagged' });

    const old = await success(tagged.id, 1000, '2026-01-01T00:00:00Z');
    await success(tagged.id, 2000, '2026-01-02T00:00:00Z');
    await success(tagged.id, 4000, '2026-01-03T00:00:00Z');
    await markBackupPruned(db.pool, old);
    const failed = await startBackup(db.pool, {
      volumeId: tagged.id,
      jobId: null,
      node: 'n1',
      reason: 'schedule',
    });
    await recordBackupFailure(db.pool, failed, {
      code: 'SNAPSHOT_OVERFLOW',
      message: 'snapshot filled up',
    });

    const rows = await listBackupStatus(db.pool);
    expect(rows.map((r) => r.volume_name).sort()).toEqual(['db', 'web']);
    const web = rows.find((r) => r.volume_name === 'web');
    expect(web).toMatchObject({
      volume_id: tagged.id,
      project_id: 'project-a',
      host: 'n1@lvm#pool',
      policy: 'daily; keep daily=7 weekly=4; exclude /tmp/*',
      last_success_at: new Date('2026-01-03T00:00:00Z'),
      last_status: 'failed',
      last_error: 'SNAPSHOT_OVERFLOW: snapshot filled up',
      next_due_at: new Date('2030-01-01T00:00:00Z'),
      backups_kept: 2,
      bytes_kept: 6000,
    });
    expect(rows.find((r) => r.volume_name === 'db')).toMatchObject({
      policy: null,
      policy_error: 'backup:retension is not a key',
      backups_kept: 0,
      last_status: null,
    });
  });

  it('the policy text writes retention as backup:retention takes it, in a fixed order', async () => {
    const text = async (policy: unknown): Promise<string | null> =>
      (
        await db.pool.query<{ t: string | null }>('SELECT clb_policy_text($1::jsonb) AS t', [
          policy === null ? null : JSON.stringify(policy),
        ])
      ).rows[0]?.t ?? null;
    expect(
      await text({
        scheduleText: '0 3 * * *',
        retention: { monthly: 6, weekly: 4, daily: 7, maxAgeDays: 30, keepLast: 3 },
        excludes: [],
      }),
    ).toBe('0 3 * * *; keep last=3 daily=7 weekly=4 monthly=6 30d');
    expect(await text({ scheduleText: 'daily', retention: { keepLast: 3 }, excludes: [] })).toBe(
      'daily; keep last=3',
    );
    expect(await text({ scheduleText: 'hourly', retention: {}, excludes: ['/tmp/*'] })).toBe(
      'hourly; exclude /tmp/*',
    );
    expect(await text(null)).toBeNull();
  });

  it('backup_history lists every backup newest first with figures', async () => {
    const h = await db.pool.query<{
      status: string;
      throughput_mib_s: string;
      compression_ratio: string;
    }>('SELECT status, throughput_mib_s, compression_ratio FROM backup_history');
    expect(h.rows[0]?.status).toBe('failed');
    expect(h.rows.slice(1).map((r) => [r.throughput_mib_s, r.compression_ratio])).toEqual([
      ['50.0', '3.00'],
      ['50.0', '3.00'],
      ['50.0', '3.00'],
    ]);
  });

  it('backup_failures lists failed backups and failed jobs without a backup row', async () => {
    const v = await addVolume(db.pool, 'n2@lvm', { name: 'verify-me' });
    const j = await enqueueJob(db.pool, {
      kind: 'verify',
      volumeId: v.id,
      backendHost: 'n2@lvm',
      lvName: v.lvName,
      reason: 'manual',
    });
    await claimJobs(db.pool, { agentId: 'a', hosts: ['n2@lvm'], limit: 1, leaseSeconds: 30 });
    await failJob(db.pool, j?.id ?? 0, 'a', {
      code: 'CHECKSUM_MISMATCH',
      message: 'p1.tar.zst differs',
      retryable: false,
      retryInSeconds: 0,
    });
    const f = await db.pool.query<{ kind: string; volume_name: string; error_code: string }>(
      'SELECT kind, volume_name, error_code FROM backup_failures',
    );
    expect(f.rows).toEqual(
      expect.arrayContaining([
        { kind: 'backup', volume_name: 'web', error_code: 'SNAPSHOT_OVERFLOW' },
        { kind: 'verify', volume_name: 'verify-me', error_code: 'CHECKSUM_MISMATCH' },
      ]),
    );
    expect(f.rowCount).toBe(2);
  });

  it(
    '`status --json` prints the view and `status` a table',
    async () => {
      const env = { ...process.env, DATABASE_URL: db.url, CLB_LOG_LEVEL: 'warn' };
      const json = await run(
        process.execPath,
        ['--import', 'tsx', 'src/cli.ts', 'status', '--json'],
        { cwd: ROOT, env, timeout: CHILD_WAIT_MS },
      );
      const parsed = JSON.parse(json.stdout) as {
        status: string;
        volumes: { volume_name: string }[];
      };
      expect(parsed.status).toBe('ok');
      expect(parsed.volumes.map((v) => v.volume_name).sort()).toEqual(['db', 'web']);
      const table = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'status'], {
        cwd: ROOT,
        env,
        timeout: CHILD_WAIT_MS,
      });
      const lines = table.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^VOLUME\s+NAME\s+PROJECT/);
      expect(
        lines.some((l) =>
          /web .*daily; keep daily=7.*failed.* 2 +5\.9 KiB +SNAPSHOT_OVERFLOW/.test(l),
        ),
      ).toBe(true);
    },
    CHILD_TEST_TIMEOUT_MS,
  );
});
