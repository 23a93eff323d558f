/**
 * `catalog rebuild` on the host: real `backup --device` backups (loop devices) carrying the
 * catalog facts an agent records, a catalog that is then empty, the command run as a user
 * runs it, and afterwards status, retention, verify and restore working from the rebuilt
 * rows. Also: what does not verify is skipped and named, a second run changes nothing,
 * `--host` takes only that host's backups.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDevice } from '../../src/engine/backup-device.js';
import type { Manifest, ManifestCatalog } from '../../src/engine/manifest.js';
import { runCommand } from '../../src/exec/run-command.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import {
  attach,
  describeTree,
  detach,
  detachAll,
  ensurePartitions,
  makeGptImage,
  requireRoot,
} from '../engine/helpers/host-images.js';

const ROOT = join(import.meta.dirname, '..', '..');
const V1 = randomUUID();
const V2 = randomUUID();
const POLICY = { scheduleText: 'daily', retention: { keepLast: 1 }, excludes: ['/cache'] };

let work: string;
let dest: string;
let gpt: { image: string; tree: string };
let db: FreshDatabase;
/** The good backups, oldest first: two of V1 (host a), one of V2 (host b). */
const good: { volumeId: string; manifest: Manifest; manifestPath: string }[] = [];
let corruptDir = '';
let anonymousDir = '';

function catalogFor(volumeId: string, backendHost: string): ManifestCatalog {
  return {
    volumeId,
    projectId: `project-of-${volumeId.slice(0, 8)}`,
    volumeName: `vol ${volumeId.slice(0, 8)}`,
    host: `${backendHost}#pool`,
    backendHost,
    sizeGb: 1,
    node: `${backendHost}/agent-1`,
    reason: 'schedule',
    policy: POLICY,
  };
}

async function cli(
  args: string[],
  url: string,
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const r = await runCommand('npx', ['tsx', 'src/cli.ts', ...args, '--json'], {
    cwd: ROOT,
    okExitCodes: [0, 1, 2],
    env: { DATABASE_URL: url, CLB_RUN_DIR: join(work, 'run') },
    timeoutMs: 300_000,
  });
  return {
    code: r.exitCode,
    json: JSON.parse(r.stdout || '{}') as Record<string, unknown>,
    stderr: r.stderr,
  };
}

async function backUp(catalog: ManifestCatalog | null): Promise<{
  manifest: Manifest;
  manifestPath: string;
  backupDir: string;
}> {
  const dev = await attach(gpt.image, true);
  try {
    const r = await backupDevice({
      device: dev,
      dest,
      excludes: ['/cache'],
      ...(catalog ? { catalog } : {}),
    });
    return r;
  } finally {
    await detach(dev);
  }
}

/** Everything the rebuild writes, to see that a second run changes nothing. */
async function catalogRows(pool: FreshDatabase['pool']): Promise<unknown[]> {
  const b = await pool.query<Record<string, unknown>>('SELECT * FROM backups ORDER BY id');
  const v = await pool.query<Record<string, unknown>>('SELECT * FROM volumes ORDER BY id');
  return [...b.rows, ...v.rows];
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-catalog-'));
  dest = join(work, 'dest');
  await mkdir(dest);
  gpt = await makeGptImage(join(work, 'img'));
  for (const [volumeId, host] of [
    [V1, 'node-a@lvm'],
    [V1, 'node-a@lvm'],
    [V2, 'node-b@lvm'],
  ] as const) {
    const r = await backUp(catalogFor(volumeId, host));
    good.push({ volumeId, manifest: r.manifest, manifestPath: r.manifestPath });
    // Backup ids are made to the second: keep them apart.
    await new Promise((res) => setTimeout(res, 1100));
  }
  // One whose archive was damaged after the fact: same size, one byte changed.
  const damaged = await backUp(catalogFor(V2, 'node-b@lvm'));
  corruptDir = damaged.backupDir;
  const archive = join(corruptDir, 'p1.tar.zst');
  const bytes = await readFile(archive);
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
  await writeFile(archive, bytes);
  // One made by hand without catalog facts: no volume to attach it to.
  anonymousDir = (await backUp(null)).backupDir;
  // And an unfinished one, as a SIGKILLed run leaves it.
  await cp(good[0]?.manifestPath.replace(/\/manifest\.json$/, '') ?? '', `${corruptDir}x.partial`, {
    recursive: true,
  });
  db = await freshDatabase();
}, 300_000);

afterAll(async () => {
  await detachAll();
  await db?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('catalog rebuild from the manifests on a destination', () => {
  it('re-creates the rows of every backup that verifies, and names what it skipped', async () => {
    const r = await cli(['catalog', 'rebuild', '--dest', dest], db.url);
    expect(r.code, r.stderr).toBe(0);
    const report = r.json as {
      found: number;
      rebuilt: { backupId: string }[];
      present: number;
      volumesAdded: number;
      skipped: { dir: string; reason: string }[];
    };
    expect(report.found).toBe(5);
    expect(report.rebuilt.map((x) => x.backupId).sort()).toEqual(
      good.map((g) => g.manifest.backupId).sort(),
    );
    expect(report.present).toBe(0);
    expect(report.volumesAdded).toBe(2);
    const skipped = new Map(report.skipped.map((s) => [s.dir, s.reason]));
    expect(skipped.get(corruptDir)).toBe('p1.tar.zst does not match its checksum');
    expect(skipped.get(anonymousDir)).toBe('the manifest names no Cinder volume');
    expect(skipped.get(`${corruptDir}x.partial`)).toBe('unfinished backup (.partial)');
    expect(report.skipped).toHaveLength(3);
    console.log(
      `catalog rebuild: ${report.found} backups found, ${report.rebuilt.length} rows rebuilt, ` +
        `${report.skipped.length} skipped, ${String(r.json['durationMs'])} ms`,
    );

    // Each row carries the manifest's volume, figures, checksums, consistency and times.
    for (const g of good) {
      const row = (
        await db.pool.query('SELECT * FROM backups WHERE backup_id = $1', [g.manifest.backupId])
      ).rows[0] as Record<string, unknown>;
      const m = g.manifest;
      expect(row).toMatchObject({
        volume_id: g.volumeId,
        status: 'succeeded',
        reason: 'schedule',
        node: m.catalog?.node,
        bytes_read: String(m.totals.archivedBytes),
        bytes_written: String(m.totals.storedBytes),
        consistency: 'as-provided',
        // As the agent records it: the host whose destination holds it; no instance steps.
        backend_host: m.catalog?.backendHost,
        consistency_level: null,
        manifest_path: g.manifestPath,
        location: g.manifestPath.replace(/\/manifest\.json$/, ''),
        job_id: null,
        pruned_at: null,
      });
      // The manifest as written, every field (the agent's row holds the same).
      expect(row['manifest']).toEqual(JSON.parse(JSON.stringify(m)));
      expect((row['started_at'] as Date).toISOString()).toBe(m.startedAt);
      expect((row['finished_at'] as Date).toISOString()).toBe(m.finishedAt);
      expect(row['archives']).toEqual(
        [m.head, ...m.partitions.flatMap((p) => [p.archive, p.snapshotFile])]
          .filter((f) => f !== undefined && f !== null)
          .map((f) => ({
            file: f.file,
            sha256: f.sha256,
            bytes: f.bytes,
            location: `${g.manifestPath.replace(/\/manifest\.json$/, '')}/${f.file}`,
          })),
      );
    }
    const vols = await db.pool.query(
      'SELECT id, name, project_id, status, backend_host, host, policy FROM volumes ORDER BY name',
    );
    expect(vols.rows).toEqual(
      [V1, V2]
        .map((id) => {
          const host = id === V1 ? 'node-a@lvm' : 'node-b@lvm';
          return {
            id,
            name: `vol ${id.slice(0, 8)}`,
            project_id: `project-of-${id.slice(0, 8)}`,
            status: 'unknown',
            backend_host: host,
            host: `${host}#pool`,
            policy: POLICY,
          };
        })
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
  }, 300_000);

  it('changes nothing when run again', async () => {
    const before = await catalogRows(db.pool);
    const r = await cli(['catalog', 'rebuild', '--dest', dest], db.url);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ found: 5, rebuilt: [], present: 3, volumesAdded: 0 });
    expect(await catalogRows(db.pool)).toEqual(before);
  }, 300_000);

  it('status, retention, verify and restore work from the rebuilt rows', async () => {
    const status = await cli(['status'], db.url);
    expect(status.code, status.stderr).toBe(0);
    const lines = status.json['volumes'] as Record<string, unknown>[];
    expect(lines.map((l) => [l['volume_id'], Number(l['backups_kept'])]).sort()).toEqual(
      [
        [V1, 2],
        [V2, 1],
      ].sort(),
    );

    // keepLast 1: the older backup of V1 goes, the newer stays.
    const prune = await cli(['prune', '--volume', V1], db.url);
    expect(prune.code, prune.stderr).toBe(0);
    const ids = await db.pool.query<{ id: string; backup_id: string }>(
      'SELECT id, backup_id FROM backups WHERE volume_id = $1',
      [V1],
    );
    const rowOf = (backupId: string): number =>
      Number(ids.rows.find((x) => x.backup_id === backupId)?.id);
    expect(prune.json['prune']).toEqual([rowOf(good[0]?.manifest.backupId ?? '')]);

    // verify and restore take the manifest path from the rebuilt row.
    const newest = (
      await db.pool.query<{ manifest_path: string }>(
        'SELECT manifest_path FROM backups WHERE backup_id = $1',
        [good[1]?.manifest.backupId],
      )
    ).rows[0]?.manifest_path as string;
    const verify = await cli(['verify', '--manifest', newest], db.url);
    expect(verify.json['status'], verify.stderr).toBe('ok');

    const targetImage = join(work, 'target.img');
    await runCommand('truncate', ['-s', '128M', targetImage]);
    const target = await attach(targetImage, false);
    const restore = await cli(
      ['restore', '--manifest', newest, '--target', target, '--force'],
      db.url,
    );
    expect(restore.json['status'], JSON.stringify(restore.json)).toBe('ok');
    await ensurePartitions(target, 1);
    const mnt = join(work, 'restored');
    await mkdir(mnt, { recursive: true });
    await runCommand('mount', ['-o', 'ro', `${target}p1`, mnt]);
    try {
      expect(await describeTree(mnt, ['lost+found'])).toBe(gpt.tree);
    } finally {
      await runCommand('umount', [mnt]);
    }
  }, 300_000);

  it('takes only the backups of the host it is given', async () => {
    const other = await freshDatabase();
    try {
      const r = await cli(
        ['catalog', 'rebuild', '--dest', dest, '--host', 'node-b@lvm'],
        other.url,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ otherHost: 2, volumesAdded: 1 });
      expect((r.json['rebuilt'] as { backupId: string }[]).map((x) => x.backupId)).toEqual([
        good[2]?.manifest.backupId,
      ]);
      const rows = await other.pool.query('SELECT volume_id FROM backups');
      expect(rows.rows).toEqual([{ volume_id: V2 }]);
    } finally {
      await other.drop();
    }
  }, 300_000);

  it('refuses bad usage with exit 2', async () => {
    const r = await cli(['catalog', 'rebuild'], db.url);
    expect(r.code).toBe(2);
    expect(r.json['error']).toMatchObject({ code: 'INVALID_ARGUMENT' });
  }, 60_000);
});
