/**
 * Two real controller processes on one Postgres and RabbitMQ: consumers compete on the one
 * queue, only the advisory-lock holder schedules, a SIGKILLed leader is replaced, SIGTERM
 * stops in order with exit 0, and no payload secret reaches the logs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putVolume } from '../db/volume-fixtures.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import {
  AMQP_URL,
  deleteTopology,
  TestPublisher,
  volumeEvent,
} from '../notifications/notification-builder.js';
import { CHILD_TEST_TIMEOUT_MS, waitForChild } from '../child-wait.js';
import { ControllerProcess } from './controller-process.js';

const suffix = randomBytes(4).toString('hex');
const exchange = `clb_test_ctl_${suffix}`;
const queue = `clb-test-ctl-${suffix}.notifications`;

let db: FreshDatabase;
let publisher: TestPublisher;
const procs: ControllerProcess[] = [];

function start(name: string): ControllerProcess {
  const p = new ControllerProcess(name, {
    DATABASE_URL: db.url,
    AMQP_URL,
    CLB_NOTIFICATION_EXCHANGES: exchange,
    CLB_NOTIFICATION_QUEUE: queue,
    CLB_SCHEDULE_INTERVAL: '1',
    CLB_LEADER_RETRY: '1',
    CLB_PREFETCH: '8',
    CLB_LOG_LEVEL: 'debug',
  });
  procs.push(p);
  return p;
}

/** Waits on what the controllers do; a failure shows the tail of each one's log. */
function waitFor(what: string, fn: () => Promise<boolean>): Promise<number> {
  return waitForChild(what, fn, {
    output: () => procs.map((p) => `--- ${p.name}:\n${p.raw.slice(-1000)}`).join('\n'),
    everyMs: 50,
  });
}

async function taggedVolume(): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    projectId: 'p',
    status: 'available',
    sizeGb: 1,
    host: 'stor1@lvm#LVM',
    lvName: `volume-${id}`,
    metadata: { backup: 'daily' },
  });
  return id;
}

async function hasScheduledJob(id: string): Promise<boolean> {
  const r = await db.pool.query(`SELECT 1 FROM jobs WHERE volume_id = $1 AND reason = 'schedule'`, [
    id,
  ]);
  return r.rowCount === 1;
}

async function leaderLockHolders(): Promise<number[]> {
  const r = await db.pool.query<{ pid: number }>(
    `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
        AND l.objid = $1`,
    [0x636c6263],
  );
  return r.rows.map((x) => x.pid);
}

beforeAll(async () => {
  db = await freshDatabase();
  publisher = await TestPublisher.open(exchange);
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await publisher?.close();
  await deleteTopology(exchange, [queue, `${queue}.dead-letter`]);
  await db?.drop();
});

describe('controller daemon', () => {
  it(
    'runs two controllers: one leader, both consuming, leader replaced after SIGKILL, SIGTERM stops cleanly',
    async () => {
      const a = start('A');
      await a.waitForLog('elected leader: running poller and scheduler');
      const b = start('B');
      await b.waitForLog('controller started');
      // B keeps trying every second but the lock is A's.
      await new Promise((r) => setTimeout(r, 2500));
      expect(b.count('elected leader: running poller and scheduler')).toBe(0);
      expect(await leaderLockHolders()).toHaveLength(1);

      // The leader's scheduler enqueues a tagged volume.
      const v1 = await taggedVolume();
      await waitFor('a scheduled job', () => hasScheduledJob(v1));

      // Consumers compete on the one queue: both apply some of 400 events.
      const t0 = Date.now() - 60_000;
      const bodies = Array.from(
        { length: 400 },
        (_, i) =>
          volumeEvent({
            eventType: 'volume.attach.end',
            volumeId: randomUUID(),
            at: new Date(t0 + i),
            status: 'in-use',
            attachedTo: randomUUID(),
          }).body,
      );
      await publisher.publish(bodies);
      await waitFor('400 processed', async () => {
        const r = await db.pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM processed_notifications',
        );
        return Number(r.rows[0]?.n) === 400;
      });
      // The ledger row commits before the ack and its log line: wait for the lines too.
      const applied = () => a.count('notification applied') + b.count('notification applied');
      await waitFor('400 logged as applied', () => Promise.resolve(applied() >= 400));
      const byA = a.count('notification applied');
      const byB = b.count('notification applied');
      expect(byA + byB).toBe(400);
      expect(byA).toBeGreaterThan(0);
      expect(byB).toBeGreaterThan(0);

      // The leader dies without a word: B takes the lock over and schedules.
      a.kill('SIGKILL');
      await a.exited;
      const takeoverMs = await waitFor('B elected', () =>
        Promise.resolve(b.count('elected leader: running poller and scheduler') === 1),
      );
      const v2 = await taggedVolume();
      await waitFor('a job scheduled by the new leader', () => hasScheduledJob(v2));
      expect(takeoverMs).toBeLessThan(5000);

      b.kill('SIGTERM');
      const exit = await b.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(b.count('notification consumer stopped')).toBe(1);
      expect(b.count('controller stopped')).toBe(1);
      expect(await leaderLockHolders()).toHaveLength(0);

      // Attachment rows carried CHAP secrets; the logs never show payloads.
      for (const p of [a, b]) expect(p.raw).not.toContain('chap-secret-123');
      console.log(
        `controller: A applied ${byA}, B applied ${byB}; takeover after SIGKILL ${takeoverMs} ms`,
      );
    },
    CHILD_TEST_TIMEOUT_MS,
  );

  it(
    'keeps retrying an unreachable broker and still stops at once on SIGTERM',
    async () => {
      const p = new ControllerProcess('D', {
        DATABASE_URL: db.url,
        AMQP_URL: 'amqp://guest:guest@127.0.0.1:1',
        CLB_NOTIFICATION_QUEUE: `clb-test-unreachable-${suffix}`,
      });
      procs.push(p);
      await p.waitForLog('AMQP connect failed', undefined, 2);
      const t0 = Date.now();
      p.kill('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(5000);
    },
    CHILD_TEST_TIMEOUT_MS,
  );

  it(
    'refuses to start without AMQP_URL, naming the setting and the variable, exit 78',
    async () => {
      const p = new ControllerProcess('C', { DATABASE_URL: db.url });
      procs.push(p);
      const exit = await p.exited;
      expect(exit.code).toBe(78);
      expect(p.raw).toContain(
        '[DEFAULT] transport_url: not set (in the file, or with AMQP_URL or CLB_TRANSPORT_URL)',
      );
    },
    CHILD_TEST_TIMEOUT_MS,
  );
});
