/**
 * `prune --volume ID` (the preview) for a deleted volume, against a real Postgres: it says
 * that every backup is kept until the grace ends, and after it that all are due, with the
 * grace of `[retention] orphan_grace` (here set through CLB_ORPHAN_GRACE).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { addVolume } from '../db/volume-fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

function prune(args: string[], grace: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'prune', ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: join(ROOT, 'test', 'cli'),
          CLB_CONFIG: join(ROOT, 'test', 'cli', 'empty.conf'),
          DATABASE_URL: db.url,
          CLB_ORPHAN_GRACE: grace,
        },
      },
      (err, stdout) => {
        const code = err === null ? 0 : err.code;
        if (typeof code !== 'number') reject(err ?? new Error('no exit code'));
        else resolve({ code, stdout });
      },
    );
  });
}

describe('prune preview of a deleted volume', () => {
  it('keeps every backup within the grace and shows all due after it', async () => {
    const v = await addVolume(db.pool, 'node1@lvm', { name: 'gone' });
    const ids: number[] = [];
    for (const day of [20, 10]) {
      const r = await db.pool.query<{ id: string }>(
        `INSERT INTO backups (volume_id, backup_id, status, reason, manifest_path, started_at)
         VALUES ($1, $2, 'succeeded', 'schedule', '/d/m', now() - make_interval(days => $3))
         RETURNING id`,
        [v.id, `b-${day}`, day],
      );
      ids.push(Number(r.rows[0]?.id));
    }
    await db.pool.query(
      `UPDATE volumes SET status = 'deleted', deleted_at = now() - interval '5 days',
              policy = '{"scheduleText": "daily", "retention": {"keepLast": 1}}'
        WHERE id = $1`,
      [v.id],
    );
    const within = await prune(['--volume', v.id, '--json'], '30d');
    expect(within.code).toBe(0);
    const j = JSON.parse(within.stdout) as {
      prune: number[];
      orphan: { gone: string; due: boolean; prune: number[]; reason: string };
    };
    expect(j.orphan).toMatchObject({ gone: 'deleted', due: false, prune: [ids[1], ids[0]] });
    expect(j.orphan.reason).toMatch(/^volume deleted \d{4}-\d\d-\d\d, grace 30 d$/);
    const text = await prune(['--volume', v.id], '30d');
    expect(text.stdout).toMatch(/: all 2 backups are kept until \d{4}-/);
    expect(text.stdout.match(/keep \(grace\)/g)).toHaveLength(2);

    const after = await prune(['--volume', v.id], '3d');
    expect(after.stdout).toMatch(/grace 3 d: all 2 backups are due for pruning/);
    expect(after.stdout.match(/prune \(volume gone\)/g)).toHaveLength(2);
  });
});
