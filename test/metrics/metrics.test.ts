/**
 * /metrics against the real Postgres: the text parses as Prometheus exposition, and the
 * catalog figures move when backups succeed or fail, jobs queue, volumes age and agents
 * beat; two controllers on one database serve the same catalog figures.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAgentHeartbeat } from '../../src/db/agent-heartbeats.js';
import { recordBackupFailure, startBackup } from '../../src/db/backups.js';
import { enqueueJob } from '../../src/jobs/queue.js';
import { buildMetricsServer, type MetricsServer } from '../../src/metrics/metrics-server.js';
import { addSucceededBackup } from '../db/backup-rows.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';
import { parsePrometheusText, type Exposition } from './prometheus-text.js';

let db: FreshDatabase;
let one: MetricsServer;
let two: MetricsServer;

beforeAll(async () => {
  db = await freshDatabase();
  one = buildMetricsServer({ db: db.pool });
  two = buildMetricsServer({ db: db.pool });
});
afterAll(async () => {
  await one?.app.close();
  await two?.app.close();
  await db?.drop();
});

async function scrape(m: MetricsServer = one): Promise<Exposition> {
  const res = await m.app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(res.body);
}

const POLICY = { schedule: { kind: 'interval', everySeconds: 86_400 }, scheduleText: 'daily' };

async function volume(policy: Record<string, unknown> | null = POLICY) {
  const id = randomUUID();
  const v = await putVolume(db.pool, {
    id,
    projectId: 'p1',
    status: 'available',
    sizeGb: 1,
    host: 'stor1@lvm#LVM',
    lvName: `volume-${id}`,
  });
  await db.pool.query('UPDATE volumes SET policy = $2 WHERE id = $1', [
    id,
    policy === null ? null : JSON.stringify(policy),
  ]);
  return v;
}

async function succeed(volumeId: string, seconds: number, bytes: number): Promise<void> {
  const id = await addSucceededBackup(db.pool, volumeId, {
    bytesWritten: bytes,
    throughputBytesPerS: (bytes * 3) / seconds,
    snapshotPeakPercent: 12,
  });
  await db.pool.query(
    `UPDATE backups SET started_at = finished_at - make_interval(secs => $2) WHERE id = $1`,
    [id, seconds],
  );
}

describe('/metrics', () => {
  it('parses as Prometheus text with every family declared', async () => {
    const m = await scrape();
    for (const [name, type] of [
      ['clb_backups_total', 'counter'],
      ['clb_backup_read_bytes_total', 'counter'],
      ['clb_backup_stored_bytes_total', 'counter'],
      ['clb_backup_duration_seconds', 'histogram'],
      ['clb_backup_throughput_bytes_per_second', 'histogram'],
      ['clb_backup_snapshot_peak_percent', 'histogram'],
      ['clb_volume_last_success_age_seconds', 'gauge'],
      ['clb_volume_oldest_last_success_age_seconds', 'gauge'],
      ['clb_volumes', 'gauge'],
      ['clb_jobs', 'gauge'],
      ['clb_agent_last_heartbeat_timestamp_seconds', 'gauge'],
      ['clb_agents_seen', 'gauge'],
      ['clb_notifications_consumed_total', 'counter'],
      ['clb_notifications_dead_lettered_total', 'counter'],
      ['clb_notification_lag_seconds', 'histogram'],
      ['clb_poll_duration_seconds', 'histogram'],
      ['clb_poll_errors_total', 'counter'],
    ]) {
      expect(m.types.get(name ?? ''), name).toBe(type);
    }
    expect(m.value('clb_backup_duration_seconds_count')).toBe(0);
    expect(m.value('clb_jobs', { kind: 'backup', state: 'queued' })).toBe(0);
  });

  it('moves when a backup succeeds and when one fails', async () => {
    const v = await volume();
    await succeed(v.id, 90, 1000);
    let m = await scrape();
    expect(m.value('clb_backups_total', { outcome: 'succeeded', trigger: 'schedule' })).toBe(1);
    expect(m.value('clb_backup_read_bytes_total')).toBe(3000);
    expect(m.value('clb_backup_stored_bytes_total')).toBe(1000);
    expect(m.value('clb_backup_duration_seconds_count')).toBe(1);
    expect(m.value('clb_backup_duration_seconds_sum')).toBeCloseTo(90, 3);
    expect(m.value('clb_backup_duration_seconds_bucket', { le: '60' })).toBe(0);
    expect(m.value('clb_backup_duration_seconds_bucket', { le: '120' })).toBe(1);
    expect(m.value('clb_backup_duration_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(m.value('clb_backup_snapshot_peak_percent_bucket', { le: '10' })).toBe(0);
    expect(m.value('clb_backup_snapshot_peak_percent_bucket', { le: '25' })).toBe(1);
    const age = m.value('clb_volume_last_success_age_seconds', { volume_id: v.id });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);

    const failed = await startBackup(db.pool, {
      volumeId: v.id,
      jobId: null,
      node: 'n1',
      reason: 'event:volume.detach.end',
    });
    await recordBackupFailure(db.pool, failed, { code: 'SNAPSHOT_OVERFLOW', message: 'full' });
    m = await scrape();
    expect(
      m.value('clb_backups_total', {
        outcome: 'failed',
        trigger: 'event',
        error_code: 'SNAPSHOT_OVERFLOW',
      }),
    ).toBe(1);
    expect(m.value('clb_backups_total', { outcome: 'succeeded' })).toBe(1);
    expect(m.value('clb_backup_duration_seconds_count')).toBe(1);
  });

  it('counts overdue volumes, policy errors, the oldest good backup and the queue', async () => {
    const stale = await volume();
    await succeed(stale.id, 10, 10);
    await db.pool.query(
      `UPDATE backups SET finished_at = now() - interval '3 days', started_at = now() - interval '3 days 10 seconds' WHERE volume_id = $1`,
      [stale.id],
    );
    const broken = await volume(null);
    await db.pool.query(`UPDATE volumes SET policy_error = 'backup=sometimes' WHERE id = $1`, [
      broken.id,
    ]);
    await db.pool.query(`UPDATE volumes SET quota_error = 'project p over quota' WHERE id = $1`, [
      stale.id,
    ]);
    await enqueueJob(db.pool, {
      kind: 'backup',
      volumeId: stale.id,
      backendHost: 'stor1@lvm',
      lvName: stale.lvName,
      reason: 'schedule',
    });
    const m = await scrape();
    expect(m.value('clb_volumes', { state: 'overdue' })).toBe(1);
    expect(m.value('clb_volumes', { state: 'policy_error' })).toBe(1);
    expect(m.value('clb_volumes', { state: 'over_quota' })).toBe(1);
    expect(m.value('clb_volumes', { state: 'tagged' })).toBe(3);
    expect(m.value('clb_volume_oldest_last_success_age_seconds')).toBeGreaterThan(3 * 86_400 - 60);
    expect(m.value('clb_jobs', { kind: 'backup', state: 'queued' })).toBe(1);
  });

  it('shows agents by their heartbeats', async () => {
    await recordAgentHeartbeat(db.pool, {
      agentId: 'stor1-abc',
      hosts: ['stor1@lvm'],
      startedAt: new Date(),
    });
    const m = await scrape();
    expect(m.value('clb_agents_seen')).toBe(1);
    const t = m.value('clb_agent_last_heartbeat_timestamp_seconds', { agent: 'stor1-abc' });
    expect(Math.abs((t ?? 0) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('two controllers on one catalog serve the same catalog figures', async () => {
    const [a, b] = [await scrape(one), await scrape(two)];
    for (const name of ['clb_backups_total', 'clb_backup_duration_seconds_bucket', 'clb_volumes']) {
      const pick = (e: Exposition) =>
        e.samples.filter((s) => s.name === name).map((s) => [s.labels, s.value]);
      expect(pick(b)).toEqual(pick(a));
    }
  });

  it('counts what this controller consumed and polled', async () => {
    one.counters.notificationHandled('ack', 'applied', new Date(Date.now() - 2000));
    one.counters.notificationHandled('dead-letter', 'undecodable', null);
    one.counters.notificationDeadLettered();
    one.counters.pollFinished(3.5, null, 120);
    one.counters.pollFinished(0.2, 'OPENSTACK_UNAVAILABLE', null);
    const m = await scrape(one);
    expect(m.value('clb_notifications_consumed_total', { action: 'ack', outcome: 'applied' })).toBe(
      1,
    );
    expect(m.value('clb_notifications_dead_lettered_total')).toBe(1);
    expect(m.value('clb_notification_lag_seconds_count')).toBe(1);
    expect(m.value('clb_notification_lag_seconds_bucket', { le: '1' })).toBe(0);
    expect(m.value('clb_notification_lag_seconds_bucket', { le: '5' })).toBe(1);
    expect(m.value('clb_poll_duration_seconds_count')).toBe(2);
    expect(m.value('clb_poll_errors_total', { code: 'OPENSTACK_UNAVAILABLE' })).toBe(1);
    expect(m.value('clb_poll_volumes')).toBe(120);
  });
});
