/**
 * End to end with the storage-node guest: jobs enqueued in the host's Postgres are claimed
 * by `cinder-lvm-backup agent` running INSIDE the guest (reaching Postgres only through
 * QEMU's restricted forward to 127.0.0.1:5432); the backup row and the views show the
 * result; a verify job checks it and a restore job writes it onto another LV, which the
 * guest compares with the original (guest-agent-e2e.sh). The node crashes (SIGKILL) in the
 * middle of the first attempt: the returning agent reaps the real LVM leftovers and the job
 * runs again. The agent connects as its own login role in `clb_agent` (row security,
 * migration 0005), as on a real node; the restore job carries the target volume as the
 * enqueuer checked it in Cinder.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackupsOfVolume } from '../../src/db/backups.js';
import { putVolume } from '../db/volume-fixtures.js';
import { listBackupStatus } from '../../src/db/views.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { checkTargetVolume } from '../../src/jobs/restore-target-volume.js';
import { createAgentLogin, type AgentLogin } from '../db/agent-login.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { guestUnavailableReason, PROJECT_ROOT, runInGuest } from '../storage-node/guest.js';

const BACKEND = 'storage1@lvm';

/** Newest modification time of the files under `dir` (recursively). */
function newest(dir: string, ext: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, ext));
    else if (e.name.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

let db: FreshDatabase;
let login: AgentLogin;
beforeAll(async () => {
  db = await freshDatabase();
  login = await createAgentLogin(db, [BACKEND]);
});
afterAll(async () => {
  await db?.drop();
  await login?.drop();
});

describe('the agent in the storage-node guest', () => {
  it(
    'claims a backup from Postgres, records it, verifies it and restores it',
    { timeout: 1_200_000 },
    async () => {
      const reason = guestUnavailableReason();
      expect(reason, `cannot boot the guest: ${reason}`).toBeNull();
      // The guest runs dist/: it must be built from the current sources.
      const stale = ['agent', 'db', 'jobs', 'engine'].filter(
        (d) =>
          newest(join(PROJECT_ROOT, 'src', d), '.ts') >
          newest(join(PROJECT_ROOT, 'dist', d), '.js'),
      );
      expect(
        stale,
        `dist/ is older than src/ for ${stale.join(', ')}: run \`npm run build\``,
      ).toEqual([]);

      const volId = randomUUID();
      const targetId = randomUUID();
      const volume = await putVolume(db.pool, {
        id: volId,
        name: 'e2e-web',
        projectId: 'project-e2e',
        status: 'in-use',
        sizeGb: 1,
        host: `${BACKEND}#pool`,
        lvName: `volume-${volId}`,
      });
      await db.pool.query('UPDATE volumes SET policy = $2 WHERE id = $1', [
        volId,
        JSON.stringify({ scheduleText: 'daily', retention: { keepLast: 3 }, excludes: [] }),
      ]);
      const backupJob = await enqueueJob(db.pool, {
        kind: 'backup',
        volumeId: volId,
        backendHost: BACKEND,
        lvName: volume.lvName,
        reason: 'e2e',
      });
      expect(backupJob).not.toBeNull();

      // While the guest runs: once the backup succeeded, queue the verify and the restore.
      let follow = true;
      const follower = (async () => {
        while (follow) {
          const j = await getJob(db.pool, backupJob?.id ?? 0);
          if (j?.state === 'succeeded') {
            const rowId = (j.result as { backupRowId: number }).backupRowId;
            for (const [kind, payload] of [
              ['verify', { backupRowId: rowId }],
              [
                'restore',
                {
                  backupRowId: rowId,
                  // As `enqueue restore --target-volume` records it after asking Cinder.
                  targetVolume: checkTargetVolume(
                    {
                      id: targetId,
                      status: 'available',
                      backendHost: BACKEND,
                      lvName: `volume-${targetId}`,
                      attachments: [],
                    },
                    BACKEND,
                    new Date(),
                  ),
                },
              ],
            ] as const) {
              await enqueueJob(db.pool, {
                kind,
                volumeId: volId,
                backendHost: BACKEND,
                lvName: volume.lvName,
                reason: 'e2e',
                payload,
              });
            }
            return;
          }
          if (j?.state === 'failed') return;
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();

      const run = await runInGuest({
        command: ['bash', 'test/agent/guest-agent-e2e.sh'],
        disks: [2048],
        memMiB: 1536,
        timeoutSec: 1_000,
        env: {
          DATABASE_URL: `postgres://${login.role}@10.0.2.100:5432/${db.name}`,
          VOL_ID: volId,
          TARGET_ID: targetId,
          BACKEND,
          WAIT_SEC: '800',
        },
        forwards: [{ guestPort: 5432, hostPort: 5432 }],
      });
      follow = false;
      await follower;
      const results = run.stdout.split('\n').filter((l) => l.startsWith('RESULT '));
      console.log(`guest run: ${(run.durationMs / 1000).toFixed(0)} s\n${results.join('\n')}`);
      expect(
        results.filter((l) => !/ PASS/.test(l)),
        run.stdout.slice(-4000),
      ).toEqual([]);
      expect(results.length).toBe(6);
      expect(run.exitCode, run.stdout.slice(-3000) + run.stderr).toBe(0);

      // The catalog: jobs, the backup row, the views.
      const jobs = await db.pool.query<{ kind: string; state: string; locked_by: string | null }>(
        'SELECT kind, state FROM jobs ORDER BY id',
      );
      expect(jobs.rows).toEqual([
        { kind: 'backup', state: 'succeeded' },
        { kind: 'prune', state: 'succeeded' },
        { kind: 'verify', state: 'succeeded' },
        { kind: 'restore', state: 'succeeded' },
      ]);
      const [backup] = await listBackupsOfVolume(db.pool, volId); // newest first
      expect(backup).toMatchObject({
        status: 'succeeded',
        verifyOk: true,
        consistency: 'crash',
      });
      expect(backup?.bytesWritten).toBeGreaterThan(0);
      expect(backup?.archives.map((a) => a.file).sort()).toEqual(
        expect.arrayContaining(['p1.tar.zst', 'p2.tar.zst']),
      );
      expect(backup?.manifestPath).toMatch(new RegExp(`^/out/backups/volume-${volId}/`));
      const [status] = await listBackupStatus(db.pool);
      expect(status).toMatchObject({
        volume_id: volId,
        last_status: 'succeeded',
        backups_kept: 1,
        bytes_kept: backup?.bytesWritten,
      });
      // Two agent starts on the node: the first was SIGKILLed during the backup; the second
      // reaped what it left (the snapshot among it) and ran the job's second attempt.
      const starts = await db.pool.query<{
        node: string;
        data: { removed: { kind: string; name: string }[] };
      }>(`SELECT node, data FROM events WHERE kind = 'agent.reaped' ORDER BY id`);
      expect(starts.rowCount).toBe(2);
      const [killed, returned] = starts.rows;
      expect(returned?.data.removed.map((r) => r.kind)).toEqual(
        expect.arrayContaining(['snapshot', 'dir']),
      );
      console.log('reaped after the crash:', JSON.stringify(returned?.data.removed));
      expect((await getJob(db.pool, backupJob?.id ?? 0))?.attempts).toBe(2);
      const attempts = await db.pool.query<{
        node: string;
        status: string;
        error_code: string | null;
      }>('SELECT node, status, error_code FROM backups ORDER BY id');
      expect(attempts.rows).toEqual([
        { node: killed?.node, status: 'failed', error_code: 'LEASE_EXPIRED' },
        { node: returned?.node, status: 'succeeded', error_code: null },
      ]);
      const history = await db.pool.query<{ throughput_mib_s: string }>(
        'SELECT throughput_mib_s FROM backup_history',
      );
      console.log(
        `backup: ${backup?.bytesRead} bytes read, ${backup?.bytesWritten} stored, ` +
          `${history.rows[0]?.throughput_mib_s} MiB/s under TCG`,
      );
    },
  );
});
