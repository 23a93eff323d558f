/**
 * The orphan pass's figures on /metrics against the real Postgres: what the last pass
 * considered and queued and when it ran (the controller's own counters, fed with a real
 * pass's result), and from the catalog what was pruned because its volume was gone, which
 * prunes were refused and what is stranded on a host whose agent is gone.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markBackupPruned } from '../../src/db/backups.js';
import { markVolumeDeleted } from '../../src/db/volumes.js';
import { runOrphanPass } from '../../src/jobs/orphan-pass.js';
import { buildMetricsServer, type MetricsServer } from '../../src/metrics/metrics-server.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';
import { parsePrometheusText, type Exposition } from './prometheus-text.js';

let db: FreshDatabase;
let server: MetricsServer;
const DAY = 86_400_000;

beforeAll(async () => {
  db = await freshDatabase();
  server = buildMetricsServer({ db: db.pool });
});
afterAll(async () => {
  await server?.app.close();
  await db?.drop();
});

async function scrape(): Promise<Exposition> {
  const res = await server.app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return parsePrometheusText(res.body);
}

async function volume(host: string): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    projectId: 'p',
    status: 'available',
    sizeGb: 1,
    host: `${host}#pool`,
    lvName: `volume-${id}`,
  });
  return id;
}

async function backup(volumeId: string, host: string): Promise<number> {
  const r = await db.pool.query<{ id: string }>(
    `INSERT INTO backups (volume_id, backup_id, status, reason, location, manifest_path, bytes_written,
                          backend_host, started_at, finished_at)
     VALUES ($1, $2, 'succeeded', 'schedule', '/d/x', '/d/m', 10, $3, now(), now()) RETURNING id`,
    [volumeId, `b-${randomUUID()}`, host],
  );
  return Number(r.rows[0]?.id);
}

describe('orphan pass metrics', () => {
  it('are declared and empty before any pass', async () => {
    const m = await scrape();
    for (const [name, type] of [
      ['clb_orphan_passes_total', 'counter'],
      ['clb_orphan_pass_last_timestamp_seconds', 'gauge'],
      ['clb_orphan_pass_volumes', 'gauge'],
      ['clb_orphan_prunes_enqueued_total', 'counter'],
      ['clb_orphan_backups_pruned_total', 'counter'],
      ['clb_orphan_prune_refusals_total', 'counter'],
      ['clb_stranded_backups', 'gauge'],
    ]) {
      expect(m.types.get(name ?? ''), name).toBe(type);
    }
    expect(m.value('clb_orphan_passes_total')).toBe(0);
    expect(m.value('clb_orphan_pass_last_timestamp_seconds')).toBe(0);
    expect(m.value('clb_orphan_backups_pruned_total')).toBe(0);
    expect(m.value('clb_stranded_backups')).toBe(0);
  });

  it('count what a pass considered and queued, what was pruned, refused and stranded', async () => {
    const now = new Date();
    const due = await volume('stor1@lvm');
    const dueBackup = await backup(due, 'stor1@lvm');
    await markVolumeDeleted(db.pool, due, new Date(now.getTime() - 40 * DAY));
    const young = await volume('stor1@lvm');
    await backup(young, 'stor1@lvm');
    await markVolumeDeleted(db.pool, young, new Date(now.getTime() - 2 * DAY));

    const result = await runOrphanPass(db.pool, { graceSeconds: 30 * 86_400 }, { now });
    server.counters.orphanPassFinished(result, now);
    let m = await scrape();
    expect(m.value('clb_orphan_passes_total')).toBe(1);
    expect(m.value('clb_orphan_pass_last_timestamp_seconds')).toBeCloseTo(now.getTime() / 1000, 3);
    expect(m.value('clb_orphan_pass_volumes', { state: 'considered' })).toBe(2);
    expect(m.value('clb_orphan_pass_volumes', { state: 'in_grace' })).toBe(1);
    expect(m.value('clb_orphan_pass_volumes', { state: 'due' })).toBe(1);
    expect(m.value('clb_orphan_prunes_enqueued_total', { kind: 'gone' })).toBe(1);
    expect(m.value('clb_orphan_prunes_enqueued_total', { kind: 'moved' })).toBe(0);

    // The agent pruned it (the reason names the grace), or refused another prune.
    await markBackupPruned(db.pool, dueBackup, 'volume deleted 2026-10-01, grace 30 d');
    await db.pool.query(
      `UPDATE jobs SET state = 'failed', finished_at = now(), last_error_code = 'PRUNE_WRONG_HOST'
        WHERE volume_id = $1 AND kind = 'prune'`,
      [due],
    );
    // A backup held by a host whose agent has not been seen: stranded. So is the deleted
    // young volume's (no agent of stor1 was ever seen), until one is.
    const moved = await volume('stor2@lvm');
    await backup(moved, 'gone@lvm');
    m = await scrape();
    expect(m.value('clb_orphan_backups_pruned_total')).toBe(1);
    expect(m.value('clb_orphan_prune_refusals_total', { code: 'PRUNE_WRONG_HOST' })).toBe(1);
    expect(m.value('clb_stranded_backups')).toBe(2);
    await db.pool.query(
      `INSERT INTO agent_heartbeats (agent_id, hosts, started_at) VALUES ('a1', '{stor1@lvm}', now())`,
    );
    expect((await scrape()).value('clb_stranded_backups')).toBe(1);

    const again = await runOrphanPass(db.pool, { graceSeconds: 30 * 86_400 }, { now });
    server.counters.orphanPassFinished(again, now);
    m = await scrape();
    expect(m.value('clb_orphan_passes_total')).toBe(2);
    // The pruned one is no longer considered; the untagged one holding a backup now is.
    expect(m.value('clb_orphan_pass_volumes', { state: 'considered' })).toBe(2);
    expect(m.value('clb_orphan_pass_volumes', { state: 'due' })).toBe(0);
  });
});
