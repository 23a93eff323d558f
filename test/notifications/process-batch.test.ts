/**
 * processBatch against a real Postgres: a batch leaves the inventory, the ledger and the
 * jobs exactly as the same messages one transaction each would (the 37 real Cinder
 * notifications plus generated events with repeats, stale replays, deletes and triggers),
 * keeps each volume's order, counts an id repeated inside the batch once, and a poison
 * message (one the database refuses) is dead-lettered alone while the rest apply.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { processBatch, type BatchItem } from '../../src/notifications/process-batch.js';
import { processMessage, type Disposition } from '../../src/notifications/process-message.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { volumeEvent } from './notification-builder.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/cinder-notifications/', import.meta.url));
const limits = DEFAULT_POLICY_LIMITS;
let one: FreshDatabase;
let batched: FreshDatabase;

beforeAll(async () => {
  [one, batched] = await Promise.all([freshDatabase(), freshDatabase()]);
});
afterAll(async () => {
  await Promise.all([one?.drop(), batched?.drop()]);
});

const item = (body: Buffer): BatchItem => ({ body, meta: { userId: null } });

/** A mixed stream: three volumes, events out of order, repeats, a delete, a trigger. */
function generated(): Buffer[] {
  const t0 = Date.now() - 600_000;
  const at = (s: number) => new Date(t0 + s * 1000);
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  const meta = { backup: 'daily', 'backup:on': 'detach' };
  const out: Buffer[] = [];
  const push = (e: { body: Buffer }) => out.push(e.body);
  push(volumeEvent({ eventType: 'volume.create.end', volumeId: a, at: at(0), metadata: meta }));
  push(volumeEvent({ eventType: 'volume.create.end', volumeId: b, at: at(1) }));
  const attach = volumeEvent({
    eventType: 'volume.attach.end',
    volumeId: a,
    at: at(10),
    status: 'in-use',
    attachedTo: randomUUID(),
    metadata: meta,
  });
  push(attach);
  push(attach); // a repeat inside the batch
  push(volumeEvent({ eventType: 'volume.resize.end', volumeId: b, at: at(12), size: 30 }));
  // Older than the resize: stale.
  push(volumeEvent({ eventType: 'volume.resize.end', volumeId: b, at: at(11), size: 20 }));
  push(
    volumeEvent({
      eventType: 'volume.detach.end',
      volumeId: a,
      at: at(20),
      status: 'available',
      metadata: meta,
    }),
  );
  push(
    volumeEvent({
      eventType: 'volume.update.end',
      volumeId: b,
      at: at(21),
      metadata: { backup: 'weekly' },
    }),
  );
  push(volumeEvent({ eventType: 'volume.delete.end', volumeId: c, at: at(22) })); // unknown
  push(volumeEvent({ eventType: 'volume.delete.end', volumeId: b, at: at(30), status: 'deleted' }));
  return out;
}

async function state(pool: pg.Pool) {
  const volumes = await pool.query(
    `SELECT id, name, project_id, status, size_gb, host, backend_host, lv_name, metadata,
            attachments, bootable, volume_type, deleted_at IS NOT NULL AS deleted, policy,
            policy_error, next_due_at, skip_reason
       FROM volumes ORDER BY id`,
  );
  const ledger = await pool.query(
    `SELECT message_id, event_type, volume_id, outcome, event_at
       FROM processed_notifications ORDER BY message_id`,
  );
  const jobs = await pool.query(
    `SELECT volume_id, kind, reason, backend_host, lv_name, state FROM jobs ORDER BY volume_id`,
  );
  return { volumes: volumes.rows, ledger: ledger.rows, jobs: jobs.rows };
}

describe('processBatch', () => {
  it('leaves the same inventory, ledger and jobs as one transaction per message', async () => {
    const fixtures = readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => readFileSync(FIXTURES + f));
    const bodies = [...fixtures, ...generated(), ...fixtures.slice(0, 5)];
    const single: Disposition[] = [];
    for (const body of bodies) single.push(await processMessage(body, { pool: one.pool, limits }));
    // Batches of 7: volumes' events straddle batch boundaries too.
    const many: Disposition[] = [];
    for (let i = 0; i < bodies.length; i += 7) {
      many.push(
        ...(await processBatch(bodies.slice(i, i + 7).map(item), { pool: batched.pool, limits })),
      );
    }
    const summary = (ds: Disposition[]) =>
      ds.map((d) =>
        d.action === 'ack' ? [d.result.outcome, d.result.jobId !== null] : [d.action],
      );
    expect(summary(many)).toEqual(summary(single));
    const [s1, s2] = [await state(one.pool), await state(batched.pool)];
    expect(s2).toEqual(s1);
    // The comparison covered every kind of outcome, and the trigger made a job.
    expect(new Set(s1.ledger.map((r) => (r as { outcome: string }).outcome))).toEqual(
      new Set(['applied', 'ignored', 'stale', 'unknown-volume']),
    );
    expect(summary(single).filter((x) => x[0] === 'duplicate')).toHaveLength(6);
    expect(s1.jobs).toHaveLength(1);
  });

  it('applies one batch of a volume in delivery order, the last event winning', async () => {
    const id = randomUUID();
    const t0 = Date.now() - 60_000;
    const bodies = [1, 2, 3, 4, 5].map(
      (k) =>
        volumeEvent({
          eventType: 'volume.resize.end',
          volumeId: id,
          at: new Date(t0 + k * 1000),
          size: k,
        }).body,
    );
    const ds = await processBatch(bodies.map(item), { pool: batched.pool, limits });
    expect(ds.map((d) => (d.action === 'ack' ? d.result.outcome : d.action))).toEqual([
      'applied',
      'applied',
      'applied',
      'applied',
      'applied',
    ]);
    const r = await batched.pool.query<{ size_gb: number }>(
      'SELECT size_gb FROM volumes WHERE id = $1',
      [id],
    );
    expect(r.rows[0]?.size_gb).toBe(5);
  });

  it('dead-letters a poison message alone and applies the rest of its batch', async () => {
    const good = [randomUUID(), randomUUID()];
    const poisonId = randomUUID();
    const at = new Date(Date.now() - 5000);
    const bodies = [
      volumeEvent({ eventType: 'volume.create.end', volumeId: good[0] as string, at }).body,
      // Valid to the decoder, refused by Postgres (a constraint this test adds).
      volumeEvent({ eventType: 'volume.create.end', volumeId: poisonId, at, name: 'poison' }).body,
      volumeEvent({ eventType: 'volume.create.end', volumeId: good[1] as string, at }).body,
    ];
    await batched.pool.query(
      `ALTER TABLE volumes ADD CONSTRAINT test_poison CHECK (name IS DISTINCT FROM 'poison')`,
    );
    const ds = await processBatch(bodies.map(item), { pool: batched.pool, limits }).finally(() =>
      batched.pool.query('ALTER TABLE volumes DROP CONSTRAINT test_poison'),
    );
    expect(ds.map((d) => d.action)).toEqual(['ack', 'dead-letter', 'ack']);
    expect(ds[1]).toMatchObject({
      reason: expect.stringMatching(/database refused the change/) as string,
    });
    const r = await batched.pool.query<{ id: string }>(
      'SELECT id::text AS id FROM volumes WHERE id = ANY($1::uuid[]) ORDER BY id',
      [[...good, poisonId]],
    );
    expect(r.rows.map((x) => x.id)).toEqual([...good].sort());
  });

  it('keeps a NUL or a lone surrogate of a name or tag as a character Postgres can hold', async () => {
    // Once the poison of its batch: text and jsonb refuse both.
    const id = randomUUID();
    const body = volumeEvent({
      eventType: 'volume.create.end',
      volumeId: id,
      at: new Date(Date.now() - 5000),
      name: 'bad\u0000name',
      metadata: { backup: 'dai\u0000ly', 'backup:exclude': '/tmp/*\ud800' },
    }).body;
    const ds = await processBatch([item(body)], { pool: batched.pool, limits });
    expect(ds.map((d) => d.action)).toEqual(['ack']);
    const r = await batched.pool.query<{ name: string; metadata: Record<string, string> }>(
      'SELECT name, metadata FROM volumes WHERE id = $1',
      [id],
    );
    expect(r.rows[0]).toEqual({
      name: 'bad\u001aname',
      metadata: { backup: 'dai\u001aly', 'backup:exclude': '/tmp/*\ufffd' },
    });
  });

  it('says why it ignores an event that says nothing about volumes', async () => {
    const ev = volumeEvent({
      eventType: 'volume.usage.audit',
      volumeId: randomUUID(),
      at: new Date(Date.now() - 5000),
    });
    const [d] = await processBatch([item(ev.body)], { pool: batched.pool, limits });
    expect(d).toMatchObject({
      action: 'ack',
      result: {
        outcome: 'ignored',
        ignoredReason: 'volume.usage.audit does not change the volume inventory',
      },
    });
  });

  it('retries the whole batch, writing nothing, when the database is unavailable', async () => {
    const pg = await import('pg');
    const dead = new pg.default.Pool({
      connectionString: 'postgres://root@127.0.0.1:1/none',
      connectionTimeoutMillis: 1000,
    });
    dead.on('error', () => undefined);
    try {
      const bodies = [1, 2].map(
        () =>
          volumeEvent({ eventType: 'volume.create.end', volumeId: randomUUID(), at: new Date() })
            .body,
      );
      const ds = await processBatch(bodies.map(item), { pool: dead, limits });
      expect(ds.map((d) => d.action)).toEqual(['retry', 'retry']);
    } finally {
      await dead.end();
    }
  });
});
