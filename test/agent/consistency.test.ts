/**
 * The agent takes a volume's SSH consistency steps from its policy, the instance the
 * controller resolved (volumes.instance) and its own [ssh] settings: against a real sshd on
 * a loopback port ("the instance") and the real MariaDB, the backup row says `application`
 * and the stored dump holds the database. Without a usable instance the policy decides:
 * demanded `application` fails the job with the reason; `backup:consistency=crash` backs
 * up and records the lower level and why. (The snapshot is the file engine's; the steps
 * and the SSH are real.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPolicy, setVolumeInstance } from '../../src/db/volumes.js';
import { enqueueJob, getJob } from '../../src/jobs/queue.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { createTestDatabase, type TestDatabase } from '../consistency/helpers/mariadb.js';
import { startSshd, type SshdInstance } from '../consistency/helpers/sshd-instance.js';
import { addVolume } from '../db/volume-fixtures.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { waitFor } from './agent-process.js';
import { useAgentTestbed } from './agent-testbed.js';
import { runCommand } from '../../src/exec/run-command.js';

const HOST = 'ssh@lvm';
const bed = useAgentTestbed('clb-agent-ssh-');
let sshd: SshdInstance;
let mysql: TestDatabase;
let scratch: string;

beforeAll(async () => {
  sshd = await startSshd();
  scratch = await mkdtemp(path.join(tmpdir(), 'clb-agent-ssh-db-'));
  mysql = await createTestDatabase(scratch, 500);
}, 60_000);
afterAll(async () => {
  await mysql?.drop();
  await sshd?.stop();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

async function taggedVolume(metadata: Record<string, string>, lvName: string): Promise<string> {
  const v = await addVolume(bed.db.pool, HOST, { lvName, metadata });
  await recordPolicy(bed.db.pool, v.id, parsePolicy(metadata));
  return v.id;
}

async function backupJob(volumeId: string, lvName: string): Promise<number> {
  const j = await enqueueJob(bed.db.pool, {
    kind: 'backup',
    volumeId,
    backendHost: HOST,
    lvName,
    reason: 'test',
  });
  return j?.id ?? 0;
}

interface BackupRow {
  status: string;
  consistency_level: string | null;
  consistency_demanded: string | null;
  consistency_reason: string | null;
  dump_bytes: string | null;
  location: string | null;
  error_code: string | null;
  error_message: string | null;
}

async function lastBackup(volumeId: string): Promise<BackupRow | undefined> {
  const r = await bed.db.pool.query<BackupRow>(
    'SELECT * FROM backups WHERE volume_id = $1 ORDER BY id DESC LIMIT 1',
    [volumeId],
  );
  return r.rows[0];
}

describe('consistency steps through the agent', () => {
  it(
    'dumps the database over SSH to the resolved address, or records why it could not',
    { timeout: CHILD_TEST_TIMEOUT_MS },
    async () => {
      const dumped = await taggedVolume(
        { backup: 'daily', 'backup:mysqldump': mysql.name },
        'volume-dumped',
      );
      await setVolumeInstance(bed.db.pool, dumped, {
        serverId: '5b1c0d8e-0000-4000-8000-000000000001',
        serverName: 'db01',
        address: '127.0.0.1',
        resolvedAt: new Date().toISOString(),
      });
      const demanded = await taggedVolume(
        { backup: 'daily', 'backup:mysqldump': 'all' },
        'volume-demanded',
      );
      await setVolumeInstance(bed.db.pool, demanded, {
        serverId: null,
        error: 'the volume is not attached',
        resolvedAt: new Date().toISOString(),
      });
      const lenient = await taggedVolume(
        { backup: 'daily', 'backup:freeze': '/srv', 'backup:consistency': 'crash' },
        'volume-lenient',
      );
      // lenient: never resolved (the controller has not got to it).

      const jobs = {
        dumped: await backupJob(dumped, 'volume-dumped'),
        demanded: await backupJob(demanded, 'volume-demanded'),
        lenient: await backupJob(lenient, 'volume-lenient'),
      };
      await bed.start({
        hosts: [HOST],
        dest: path.join(bed.work, 'dest'),
        runDir: path.join(bed.work, 'run'),
        args: ['--poll-seconds', '1'],
        env: {
          CLB_SSH_USER: sshd.target().user,
          CLB_SSH_KEY_FILE: sshd.target().keyFile,
          CLB_SSH_KNOWN_HOSTS: sshd.knownHosts,
          CLB_SSH_PORT: String(sshd.port),
          // The whole session start is bounded by it (see spawnSsh): 8.3 s here at load 18.
          CLB_SSH_CONNECT_TIMEOUT: '30',
          CLB_SSH_MYSQLDUMP_DEFAULTS: mysql.optionFile,
        },
      });
      const final = new Set(['succeeded', 'failed', 'cancelled']);
      await waitFor(
        'the three jobs to end',
        async () => {
          for (const id of Object.values(jobs)) {
            if (!final.has((await getJob(bed.db.pool, id))?.state ?? '')) return false;
          }
          return true;
        },
        bed.output,
      );

      expect(await getJob(bed.db.pool, jobs.dumped)).toMatchObject({ state: 'succeeded' });
      const ok = await lastBackup(dumped);
      expect(ok).toMatchObject({
        status: 'succeeded',
        consistency_level: 'application',
        consistency_demanded: 'application',
        consistency_reason: null,
      });
      expect(Number(ok?.dump_bytes)).toBeGreaterThan(1000);
      const dump = (
        await runCommand('zstd', ['-dc', path.join(ok?.location ?? '', 'mysqldump.sql.zst')])
      ).stdout;
      expect(dump).toContain(`CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`${mysql.name}\``);
      expect(dump).toContain('CREATE TABLE `orders`');
      expect(dump).toMatch(/-- Dump completed/);
      // The password lives only in the option file on the instance, never in the catalog.
      const events = await bed.db.pool.query<{ t: string }>(
        "SELECT string_agg(coalesce(message, '') || data::text, ' ') AS t FROM events",
      );
      expect(events.rows[0]?.t ?? '').not.toContain(mysql.password);

      expect(await getJob(bed.db.pool, jobs.demanded)).toMatchObject({
        state: 'failed',
        lastErrorCode: 'INSTANCE_NOT_FOUND',
      });
      expect((await getJob(bed.db.pool, jobs.demanded))?.lastErrorMessage).toContain(
        'the volume is not attached',
      );

      expect(await getJob(bed.db.pool, jobs.lenient)).toMatchObject({ state: 'succeeded' });
      expect(await lastBackup(lenient)).toMatchObject({
        status: 'succeeded',
        consistency_level: 'crash',
        consistency_demanded: 'crash',
      });
      expect((await lastBackup(lenient))?.consistency_reason).toContain(
        'has not resolved the instance',
      );
    },
  );
});
