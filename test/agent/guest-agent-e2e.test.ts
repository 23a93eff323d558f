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
 *
 * In the same guest (no second boot): a "canary" volume whose policy's excludes are hostile
 * values the policy parser accepts (guest-agent-e2e-hostile.ts) is backed up twice by the
 * agent (tar runs with them) and no canary file may appear. Then the catalog is lost: a
 * second, empty database stands for it, `catalog rebuild` runs in the guest as an operator
 * (twice: the second run changes nothing), the rebuilt rows must equal the lost ones field
 * by field, and an agent that knows only the rebuilt catalog restores the canary volume's
 * newest (incremental) backup and verifies the source's, both enqueued here as the
 * controller enqueues them; the guest compares the restored tree with the original.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackupsOfVolume } from '../../src/db/backups.js';
import { putVolume } from '../db/volume-fixtures.js';
import { listBackupStatus } from '../../src/db/views.js';
import { recordPolicy } from '../../src/db/volumes.js';
import { enqueueRestore } from '../../src/jobs/enqueue-restore.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { checkTargetVolume } from '../../src/jobs/restore-target-volume.js';
import { toTarExcludes } from '../../src/policy/exclude-patterns.js';
import { createAgentLogin, type AgentLogin } from '../db/agent-login.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { guestUnavailableReason, PROJECT_ROOT, runInGuest } from '../storage-node/guest.js';
import { hostileExcludes } from './guest-agent-e2e-hostile.js';

const BACKEND = 'storage1@lvm';
/** The backup columns a rebuild re-creates from the manifest (the rest is the run's own). */
const REBUILT_COLUMNS = [
  'volume_id',
  'backup_id',
  'node',
  'status',
  'reason',
  'bytes_read',
  'bytes_written',
  'archives',
  'location',
  'manifest',
  'manifest_path',
  'consistency',
  'snapshot_peak_percent',
  'backend_host',
  'consistency_level',
  'consistency_demanded',
  'consistency_steps',
  'consistency_reason',
  'freeze_window_ms',
  'dump_bytes',
  'level',
  'parent_backup_id',
  'chain_root_backup_id',
  'full_reason',
];
const VOLUME_COLUMNS = [
  'id',
  'name',
  'project_id',
  'host',
  'backend_host',
  'lv_name',
  'size_gb',
  'policy',
];

interface RebuildJson {
  status: string;
  found: number;
  rebuilt: { backupId: string; volumeId: string }[];
  present: number;
  volumesAdded: number;
  otherHost: number;
  skipped: { dir: string; reason: string }[];
  durationMs: number;
}

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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let db: FreshDatabase;
let login: AgentLogin;
/** The catalog after the loss: empty, migrated; an operator and an agent log in to it. */
let rebuilt: FreshDatabase;
let operator: AgentLogin;
let rebuiltAgent: AgentLogin;
beforeAll(async () => {
  db = await freshDatabase();
  login = await createAgentLogin(db, [BACKEND]);
  rebuilt = await freshDatabase();
  operator = await createAgentLogin(rebuilt, [], 'clb_controller');
  rebuiltAgent = await createAgentLogin(rebuilt, [BACKEND]);
});
afterAll(async () => {
  await db?.drop();
  await login?.drop();
  await rebuilt?.drop();
  await operator?.drop();
  await rebuiltAgent?.drop();
});

describe('the agent in the storage-node guest', () => {
  it(
    'claims jobs from Postgres, runs hostile excludes harmlessly, and restores from a rebuilt catalog',
    { timeout: 2_700_000 },
    async () => {
      const reason = guestUnavailableReason();
      expect(reason, `cannot boot the guest: ${reason}`).toBeNull();
      // The guest runs dist/: it must be built from the current sources.
      const stale = ['agent', 'db', 'jobs', 'engine', 'catalog', 'cli', 'policy'].filter(
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
      const canaryId = randomUUID();
      const target2Id = randomUUID();
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
      // The canary volume: hostile excludes the parser accepts, recorded as the controller
      // records a policy; a name that would run commands too, if anything ran it.
      const tag = randomBytes(3).toString('hex');
      const hostile = hostileExcludes(tag);
      const canaryName = `canary $(touch /tmp/clbc-${tag}-name) \`touch /out/clbc-${tag}-name\``;
      const canary = await putVolume(db.pool, {
        id: canaryId,
        name: canaryName,
        projectId: 'project-e2e',
        status: 'in-use',
        sizeGb: 1,
        host: `${BACKEND}#pool`,
        lvName: `volume-${canaryId}`,
        metadata: hostile.metadata,
      });
      await recordPolicy(db.pool, canaryId, { kind: 'policy', policy: hostile.policy });
      const canaries = [...hostile.canaries, `/tmp/clbc-${tag}-name`, `/out/clbc-${tag}-name`];
      const backupJob = await enqueueJob(db.pool, {
        kind: 'backup',
        volumeId: volId,
        backendHost: BACKEND,
        lvName: volume.lvName,
        reason: 'e2e',
      });
      expect(backupJob).not.toBeNull();
      const enqueueCanaryBackup = async (): Promise<number> => {
        const j = await enqueueJob(db.pool, {
          kind: 'backup',
          volumeId: canaryId,
          backendHost: BACKEND,
          lvName: canary.lvName,
          reason: 'e2e-canary',
        });
        if (j === null) throw new Error('the canary backup was not enqueued');
        return j.id;
      };
      const targetOf = (id: string): ReturnType<typeof checkTargetVolume> =>
        // As `enqueue restore --target-volume` records it after asking Cinder.
        checkTargetVolume(
          {
            id,
            status: 'available',
            backendHost: BACKEND,
            lvName: `volume-${id}`,
            attachments: [],
          },
          BACKEND,
          new Date(),
        );

      // While the guest runs: once the backup succeeded, queue the verify, the restore and
      // the first canary backup; once that ended, the second (incremental) one. After the
      // rebuild, once the agent of the rebuilt catalog started, queue its restore and verify.
      let follow = true;
      const canaryJobs: number[] = [];
      const follower = async (): Promise<void> => {
        while (follow) {
          const j = await getJob(db.pool, backupJob?.id ?? 0);
          if (j?.state === 'failed') return;
          if (j?.state === 'succeeded') break;
          await sleep(1000);
        }
        const rowId = (
          ((await getJob(db.pool, backupJob?.id ?? 0))?.result ?? {}) as {
            backupRowId?: number;
          }
        ).backupRowId;
        await enqueueJob(db.pool, {
          kind: 'verify',
          volumeId: volId,
          backendHost: BACKEND,
          lvName: volume.lvName,
          reason: 'e2e',
          payload: { backupRowId: rowId },
        });
        await enqueueRestore(db.pool, null, {
          job: {
            volumeId: volId,
            backendHost: BACKEND,
            lvName: volume.lvName,
            reason: 'e2e',
            payload: { backupRowId: rowId },
          },
          target: targetOf(targetId),
          setMaintenance: false,
        });
        canaryJobs.push(await enqueueCanaryBackup());
        while (follow) {
          const j = await getJob(db.pool, canaryJobs[0] ?? 0);
          if (j?.state === 'succeeded' || j?.state === 'failed') break;
          await sleep(1000);
        }
        if (!follow) return;
        canaryJobs.push(await enqueueCanaryBackup());
        // The rebuilt catalog: its agent's start (after both rebuilds) is the signal.
        while (follow) {
          const started = await rebuilt.pool.query(
            "SELECT 1 FROM events WHERE kind = 'agent.reaped'",
          );
          if ((started.rowCount ?? 0) > 0) break;
          await sleep(1000);
        }
        if (!follow) return;
        const rows = await rebuilt.pool.query<{ id: string; volume_id: string }>(
          'SELECT id, volume_id FROM backups ORDER BY backup_id DESC',
        );
        const newestCanary = rows.rows.find((r) => r.volume_id === canaryId);
        const source = rows.rows.find((r) => r.volume_id === volId);
        if (newestCanary === undefined || source === undefined) return;
        await enqueueRestore(rebuilt.pool, null, {
          job: {
            volumeId: canaryId,
            backendHost: BACKEND,
            lvName: canary.lvName,
            reason: 'e2e-after-rebuild',
            payload: { backupRowId: Number(newestCanary.id) },
          },
          target: targetOf(target2Id),
          setMaintenance: false,
        });
        await enqueueJob(rebuilt.pool, {
          kind: 'verify',
          volumeId: volId,
          backendHost: BACKEND,
          lvName: volume.lvName,
          reason: 'e2e-after-rebuild',
          payload: { backupRowId: Number(source.id) },
        });
      };
      const following = follower();

      const run = await runInGuest({
        command: ['bash', 'test/agent/guest-agent-e2e.sh'],
        disks: [2048],
        memMiB: 1536,
        timeoutSec: 2_400,
        env: {
          DATABASE_URL: `postgres://${login.role}@10.0.2.100:5432/${db.name}`,
          REBUILD_DATABASE_URL: `postgres://${operator.role}@10.0.2.100:5432/${rebuilt.name}`,
          REBUILT_AGENT_URL: `postgres://${rebuiltAgent.role}@10.0.2.100:5432/${rebuilt.name}`,
          VOL_ID: volId,
          TARGET_ID: targetId,
          CANARY_ID: canaryId,
          TARGET2_ID: target2Id,
          BACKEND,
          WAIT_SEC: '1200',
          CANARY_TAG: tag,
          CANARIES: canaries.join(' '),
        },
        forwards: [{ guestPort: 5432, hostPort: 5432 }],
      });
      follow = false;
      await following;
      const results = run.stdout.split('\n').filter((l) => l.startsWith('RESULT '));
      console.log(`guest run: ${(run.durationMs / 1000).toFixed(0)} s\n${results.join('\n')}`);
      console.log(
        run.stdout
          .split('\n')
          .filter((l) => l.startsWith('REBUILD'))
          .join('\n'),
      );
      // Soft: what the catalogs hold is checked below even when a guest check failed.
      expect
        .soft(
          results.filter((l) => !/ PASS/.test(l)),
          run.stdout.slice(-4000),
        )
        .toEqual([]);
      expect
        .soft(results.map((l) => l.split(' ')[1]))
        .toEqual([
          'crash-leaves-snapshot',
          'jobs-ended',
          'agent-exit',
          'walk1',
          'walk2',
          'rebuild-run1',
          'rebuild-run2',
          'rebuild-idempotent',
          'jobs-ended-rebuilt',
          'agent-exit-rebuilt',
          'walk-rebuilt',
          'canaries',
          'leftovers',
        ]);
      expect.soft(run.exitCode, run.stdout.slice(-3000) + run.stderr).toBe(0);

      // The catalog: jobs, the backup row, the views.
      const jobs = await db.pool.query<{ kind: string; state: string; volume_id: string }>(
        'SELECT kind, state, volume_id FROM jobs ORDER BY id',
      );
      const tally = (rows: { kind: string; state: string }[]): Record<string, number> => {
        const out: Record<string, number> = {};
        for (const r of rows) out[`${r.kind} ${r.state}`] = (out[`${r.kind} ${r.state}`] ?? 0) + 1;
        return out;
      };
      // Three backups (the source, the canary twice), each followed by its prune.
      expect(tally(jobs.rows)).toEqual({
        'backup succeeded': 3,
        'prune succeeded': 3,
        'verify succeeded': 1,
        'restore succeeded': 1,
      });
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
      const status = await listBackupStatus(db.pool);
      expect(status.find((r) => r.volume_id === volId)).toMatchObject({
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
      }>('SELECT node, status, error_code FROM backups WHERE volume_id = $1 ORDER BY id', [volId]);
      expect(attempts.rows).toEqual([
        { node: killed?.node, status: 'failed', error_code: 'LEASE_EXPIRED' },
        { node: returned?.node, status: 'succeeded', error_code: null },
      ]);
      const history = await db.pool.query<{ throughput_mib_s: string }>(
        'SELECT throughput_mib_s FROM backup_history WHERE volume_id = $1',
        [volId],
      );
      console.log(
        `backup: ${backup?.bytesRead} bytes read, ${backup?.bytesWritten} stored, ` +
          `${history.rows[0]?.throughput_mib_s} MiB/s under TCG`,
      );

      // The canary volume: both backups ran with every hostile pattern (the manifest keeps
      // the excludes tar was given; the second is incremental on the first), and no canary
      // exists, in the guest (RESULT canaries) or here.
      const canaryBackups = await listBackupsOfVolume(db.pool, canaryId); // newest first
      expect(canaryBackups.map((b) => [b.status, b.errorCode])).toEqual([
        ['succeeded', null],
        ['succeeded', null],
      ]);
      const tarExcludes = toTarExcludes(hostile.policy.excludes);
      const kept = await db.pool.query<{ excludes: unknown }>(
        "SELECT manifest->'excludes' AS excludes FROM backups WHERE volume_id = $1",
        [canaryId],
      );
      expect(kept.rows).toEqual([{ excludes: tarExcludes }, { excludes: tarExcludes }]);
      const chain = await db.pool.query<{ level: number; parent_backup_id: string | null }>(
        'SELECT level, parent_backup_id FROM backups WHERE volume_id = $1 ORDER BY id',
        [canaryId],
      );
      expect(chain.rows).toEqual([
        { level: 0, parent_backup_id: null },
        { level: 1, parent_backup_id: canaryBackups[1]?.backupId },
      ]);
      const onHost = canaries
        .map((c) => (c.startsWith('/out/') ? join(run.outDir, c.slice('/out/'.length)) : c))
        .filter((c) => existsSync(c));
      expect(onHost).toEqual([]);
      // tar's argv as the guest's kernel saw it, when the sampler caught one (it polls).
      const argvFile = join(run.outDir, 'tar-argv.txt');
      const argv = existsSync(argvFile) ? readFileSync(argvFile, 'utf8').split('\n') : null;
      if (argv !== null) {
        for (const e of tarExcludes) expect(argv).toContain(`--exclude=${e}`);
      }
      const canaryResult = canaryBackups.every((b) => b.status === 'succeeded')
        ? 'succeeded'
        : 'failed';
      const canaryLine =
        `agent-canary: ${hostile.policy.excludes.length} hostile values through the LVM agent ` +
        `(${hostile.refused.length} more refused by the policy parser), backup ${canaryResult} ` +
        `twice, ${onHost.length} canaries` +
        (argv === null ? '' : `; tar argv seen with all ${tarExcludes.length} as --exclude=`);
      console.log(canaryLine);
      expect(canaryLine).toMatch(
        /^agent-canary: \d+ hostile values .* backup succeeded twice, 0 canaries/,
      );
      console.log(
        'refused by the parser:',
        hostile.refused.map((r) => `${JSON.stringify(r.value)}: ${r.reason}`).join('; '),
      );

      // The rebuild: three backups found and rebuilt, nothing skipped, in how long; the
      // second run found them all present and added nothing.
      const report = (n: number): RebuildJson => {
        const line = run.stdout.split('\n').find((l) => l.startsWith(`REBUILD${n} `));
        expect(line, `no REBUILD${n} line`).toBeDefined();
        return JSON.parse(line?.slice(`REBUILD${n} `.length) ?? '{}') as RebuildJson;
      };
      const first = report(1);
      const second = report(2);
      const good = await db.pool.query<{ backup_id: string; volume_id: string }>(
        "SELECT backup_id, volume_id FROM backups WHERE status = 'succeeded' ORDER BY backup_id",
      );
      expect(good.rowCount).toBe(3);
      expect(first).toMatchObject({
        status: 'ok',
        found: 3,
        present: 0,
        volumesAdded: 2,
        otherHost: 0,
        skipped: [],
      });
      expect(
        first.rebuilt
          .map((r) => ({ backup_id: r.backupId, volume_id: r.volumeId }))
          .sort((a, b) => a.backup_id.localeCompare(b.backup_id)),
      ).toEqual(good.rows);
      expect(second).toMatchObject({
        status: 'ok',
        found: 3,
        rebuilt: [],
        present: 3,
        volumesAdded: 0,
        skipped: [],
      });
      // Each rebuilt row holds what the lost one held, field by field; the volumes too.
      const cols = REBUILT_COLUMNS.join(', ');
      const lost = await db.pool.query(
        `SELECT ${cols} FROM backups WHERE status = 'succeeded' ORDER BY backup_id`,
      );
      const found = await rebuilt.pool.query(`SELECT ${cols} FROM backups ORDER BY backup_id`);
      expect(found.rows).toEqual(lost.rows);
      const jobless = await rebuilt.pool.query<{ job_id: string | null }>(
        'SELECT job_id FROM backups',
      );
      expect(jobless.rows.map((r) => r.job_id)).toEqual([null, null, null]);
      const vcols = VOLUME_COLUMNS.join(', ');
      const lostVolumes = await db.pool.query(`SELECT ${vcols} FROM volumes ORDER BY id`);
      const rebuiltVolumes = await rebuilt.pool.query<Record<string, unknown>>(
        `SELECT ${vcols} FROM volumes ORDER BY id`,
      );
      expect(rebuiltVolumes.rows).toEqual(lostVolumes.rows);
      expect(rebuiltVolumes.rows.find((v) => v['id'] === canaryId)?.['name']).toBe(canaryName);

      // From the rebuilt catalog: the restore (onto the third LV, compared in the guest:
      // RESULT walk-rebuilt) and the verify ran; status shows the rebuilt rows.
      const after = await rebuilt.pool.query<{ kind: string; state: string; volume_id: string }>(
        'SELECT kind, state, volume_id FROM jobs ORDER BY id',
      );
      expect(after.rows).toEqual([
        { kind: 'restore', state: 'succeeded', volume_id: canaryId },
        { kind: 'verify', state: 'succeeded', volume_id: volId },
      ]);
      const [verified] = await listBackupsOfVolume(rebuilt.pool, volId);
      expect(verified).toMatchObject({ status: 'succeeded', verifyOk: true });
      const rebuiltStatus = await listBackupStatus(rebuilt.pool);
      expect(
        rebuiltStatus
          .map((r) => ({
            volume_id: r.volume_id,
            volume_name: r.volume_name,
            last_status: r.last_status,
            backups_kept: r.backups_kept,
          }))
          .sort((a, b) => a.volume_id.localeCompare(b.volume_id)),
      ).toEqual(
        [
          { volume_id: volId, volume_name: 'e2e-web', last_status: 'succeeded', backups_kept: 1 },
          {
            volume_id: canaryId,
            volume_name: canaryName,
            last_status: 'succeeded',
            backups_kept: 2,
          },
        ].sort((a, b) => a.volume_id.localeCompare(b.volume_id)),
      );
      const walk = results.find((l) => l.startsWith('RESULT walk-rebuilt '));
      const rebuildLine =
        `catalog-rebuild: ${first.found} backups found, ${first.rebuilt.length} rows rebuilt, ` +
        `${first.skipped.length} skipped, ${(first.durationMs / 1000).toFixed(1)} s; ` +
        `second run: ${second.rebuilt.length} rebuilt; restore from rebuilt row: ` +
        (walk?.includes(' PASS') === true ? 'identical' : 'different');
      console.log(rebuildLine);
      expect(rebuildLine).toMatch(
        /^catalog-rebuild: 3 backups found, 3 rows rebuilt, 0 skipped, [\d.]+ s; second run: 0 rebuilt; restore from rebuilt row: identical$/,
      );
    },
  );
});
