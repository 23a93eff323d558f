/**
 * processMessage's dispositions against a real Postgres: what is retried (Cinder or the
 * database unavailable), what a 404 from Cinder means, and that a retried message leaves
 * nothing half-written.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { processMessage } from '../../src/notifications/process-message.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { volumeEvent } from './notification-builder.js';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const limits = DEFAULT_POLICY_LIMITS;

async function ledgerHas(messageId: string): Promise<boolean> {
  const r = await db.pool.query('SELECT 1 FROM processed_notifications WHERE message_id = $1', [
    messageId,
  ]);
  return r.rowCount === 1;
}

describe('processMessage', () => {
  it('retries, writing nothing, when Cinder is unavailable for a refetch', async () => {
    const ev = volumeEvent({ eventType: 'volume.retype', volumeId: randomUUID(), at: new Date() });
    const d = await processMessage(ev.body, {
      pool: db.pool,
      limits,
      lookup: () =>
        Promise.reject(new AppError('OPENSTACK_UNAVAILABLE', 'cinder: 503 after 4 tries')),
    });
    expect(d).toMatchObject({
      action: 'retry',
      reason: expect.stringMatching(/Cinder lookup failed: cinder: 503/) as string,
    });
    expect(await ledgerHas(ev.messageId)).toBe(false);
  });

  it('falls back to the payload when Cinder answers with a permanent error', async () => {
    const id = randomUUID();
    const ev = volumeEvent({
      eventType: 'volume.retype',
      volumeId: id,
      at: new Date(),
      volumeType: 'type-uuid',
    });
    const d = await processMessage(ev.body, {
      pool: db.pool,
      limits,
      lookup: () => Promise.reject(new AppError('OPENSTACK_API_ERROR', '403 forbidden')),
    });
    expect(d).toMatchObject({ action: 'ack', result: { outcome: 'applied' } });
    const r = await db.pool.query<{ volume_type: string }>(
      'SELECT volume_type FROM volumes WHERE id = $1',
      [id],
    );
    expect(r.rows[0]?.volume_type).toBe('type-uuid');
  });

  it('marks a volume deleted when the refetch finds it gone (404)', async () => {
    const id = randomUUID();
    const t = Date.now() - 10_000;
    await processMessage(
      volumeEvent({ eventType: 'volume.create.end', volumeId: id, at: new Date(t) }).body,
      {
        pool: db.pool,
        limits,
      },
    );
    const d = await processMessage(
      volumeEvent({ eventType: 'volume.retype', volumeId: id, at: new Date(t + 1000) }).body,
      {
        pool: db.pool,
        limits,
        lookup: () => Promise.resolve(null),
      },
    );
    expect(d).toMatchObject({ action: 'ack', result: { outcome: 'applied' } });
    const r = await db.pool.query<{ deleted_at: Date | null }>(
      'SELECT deleted_at FROM volumes WHERE id = $1',
      [id],
    );
    expect(r.rows[0]?.deleted_at).toBeInstanceOf(Date);
  });

  it('retries when the database cannot be reached', async () => {
    const dead = new pg.Pool({
      connectionString: 'postgres://root@127.0.0.1:1/none',
      connectionTimeoutMillis: 1000,
    });
    dead.on('error', () => undefined);
    try {
      const ev = volumeEvent({
        eventType: 'volume.create.end',
        volumeId: randomUUID(),
        at: new Date(),
      });
      const d = await processMessage(ev.body, { pool: dead, limits });
      expect(d).toMatchObject({
        action: 'retry',
        reason: expect.stringMatching(/database unavailable/) as string,
      });
    } finally {
      await dead.end();
    }
  });

  it('does not trigger backups from events older than the trigger horizon (a replay)', async () => {
    const id = randomUUID();
    const meta = { backup: 'daily', 'backup:on': 'detach' };
    const old = new Date(Date.now() - 2 * 3600_000);
    const d = await processMessage(
      volumeEvent({ eventType: 'volume.detach.end', volumeId: id, at: old, metadata: meta }).body,
      { pool: db.pool, limits },
    );
    expect(d).toMatchObject({ action: 'ack', result: { outcome: 'applied', jobId: null } });
    const fresh = await processMessage(
      volumeEvent({ eventType: 'volume.detach.end', volumeId: id, at: new Date(), metadata: meta })
        .body,
      { pool: db.pool, limits },
    );
    expect(fresh).toMatchObject({
      action: 'ack',
      result: { outcome: 'applied', jobId: expect.any(Number) as number },
    });
  });

  it('holds a detach/attach loop to one backup per minimum interval', async () => {
    const id = randomUUID();
    const meta = { backup: 'daily', 'backup:on': 'detach,attach' };
    const event = (eventType: string, at: Date) =>
      processMessage(volumeEvent({ eventType, volumeId: id, at, metadata: meta }).body, {
        pool: db.pool,
        limits,
      });
    const t0 = Date.now() - 60_000;
    const first = await event('volume.detach.end', new Date(t0));
    expect(first).toMatchObject({ result: { jobId: expect.any(Number) as number } });
    const jobId = (first as { result: { jobId: number } }).result.jobId;
    // While the first job is open, a second event finds it.
    const whileOpen = await event('volume.attach.end', new Date(t0 + 1000));
    expect(whileOpen).toMatchObject({
      result: { jobId: null, triggerSkipped: 'a backup job is already open' },
    });
    // The job ran and succeeded: the loop goes on, but no event may start another backup
    // within the minimum interval.
    await db.pool.query(`UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1`, [
      jobId,
    ]);
    await db.pool.query(
      `INSERT INTO backups (volume_id, job_id, status, reason, started_at, finished_at,
                            manifest_path)
       VALUES ($1, $2, 'succeeded', 'event:volume.detach.end', now() - interval '30 seconds',
               now(), '/b/manifest.json')`,
      [id, jobId],
    );
    for (let i = 2; i < 12; i++) {
      const d = await event(
        i % 2 === 0 ? 'volume.detach.end' : 'volume.attach.end',
        new Date(t0 + i * 1000),
      );
      expect(d).toMatchObject({
        action: 'ack',
        result: {
          outcome: 'applied',
          jobId: null,
          triggerSkipped: expect.stringMatching(/minimum interval of 3600 s/) as string,
        },
      });
    }
    const jobs = await db.pool.query('SELECT id FROM jobs WHERE volume_id = $1', [id]);
    expect(jobs.rowCount).toBe(1);
  });
});
