/**
 * The agent records its destination's size and free space (for the daily mail report) at
 * start and again after each backup, under the storage node's host name.
 */
import { mkdir, statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { listDestinationSpace, recordDestinationSpace } from '../../src/db/destination-space.js';
import { enqueueJob } from '../../src/jobs/queue.js';
import { createAgentLogin } from '../db/agent-login.js';
import { addVolume } from '../db/volume-fixtures.js';
import { useAgentTestbed } from './agent-testbed.js';

const bed = useAgentTestbed('clb-space-');

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('destination free space', () => {
  it('is recorded at start and after a backup', { timeout: 60_000 }, async () => {
    const host = 'space@lvm';
    const dest = path.join(bed.work, 'dest');
    await mkdir(dest, { recursive: true });
    await bed.start({ hosts: [host], dest, runDir: path.join(bed.work, 'run') });
    await waitFor(
      'a first measurement',
      async () => (await listDestinationSpace(bed.db.pool)).length > 0,
    );
    const [first] = await listDestinationSpace(bed.db.pool);
    const fs = await statfs(dest);
    expect(first).toMatchObject({ node: hostname(), dest, sizeBytes: fs.blocks * fs.bsize });
    expect(first?.freeBytes).toBeGreaterThan(0);
    expect(first?.freeBytes).toBeLessThanOrEqual(first?.sizeBytes ?? 0);

    const vol = await addVolume(bed.db.pool, host, { name: 'measured' });
    const job = await enqueueJob(bed.db.pool, {
      kind: 'backup',
      volumeId: vol.id,
      backendHost: host,
      lvName: vol.lvName,
      reason: 'manual',
    });
    await waitFor('the backup to finish', async () => {
      const r = await bed.db.pool.query<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [
        job?.id,
      ]);
      return r.rows[0]?.state === 'succeeded';
    });
    await waitFor('a newer measurement', async () => {
      const [s] = await listDestinationSpace(bed.db.pool);
      return (s?.reportedAt.getTime() ?? 0) > (first?.reportedAt.getTime() ?? 0);
    });
    expect(await listDestinationSpace(bed.db.pool)).toHaveLength(1);
  });

  it('cannot be overwritten by another agent role', async () => {
    const [row] = await listDestinationSpace(bed.db.pool);
    expect(row).toBeDefined();
    const intruder = await createAgentLogin(bed.db, ['other@lvm']);
    const pool = new pg.Pool({ connectionString: intruder.url, max: 1 });
    try {
      await expect(
        recordDestinationSpace(pool, {
          node: row!.node,
          dest: row!.dest,
          sizeBytes: 1,
          freeBytes: 1,
        }),
      ).rejects.toThrow(/row-level security/);
      // Its own node's row it may write.
      await recordDestinationSpace(pool, { node: 'other', dest: '/d', sizeBytes: 2, freeBytes: 1 });
    } finally {
      await pool.end();
    }
    const rows = await listDestinationSpace(bed.db.pool);
    expect(rows.find((r) => r.node === row!.node)?.freeBytes).toBe(row!.freeBytes);
    expect(rows.map((r) => r.node)).toContain('other');
    const roles = await bed.db.pool.query<{ role_name: string }>(
      'SELECT role_name FROM destination_space WHERE node = $1',
      [row!.node],
    );
    expect(roles.rows[0]?.role_name).toMatch(/^clb_test_login_/);
    await bed.db.pool.query('DELETE FROM destination_space WHERE node = $1', ['other']);
    await bed.db.pool.query('DELETE FROM agent_hosts WHERE role_name = $1', [intruder.role]);
    await intruder.drop();
  });
});
