/**
 * Thousands of notifications in flight while the consumer is SIGKILLed and the broker is
 * restarted (`rabbitmqctl stop_app` / `start_app`): none lost, none applied twice.
 *
 * "Applied twice" is checked independently of the consumer's own ledger: a trigger in the
 * test database counts every write to `volumes`, which must equal the number of messages
 * the ledger says were applied.
 *
 * "Mid-stream" is made certain rather than hoped for: before each fault the test holds an
 * EXCLUSIVE lock on the ledger table, so the consumer's next transactions wait with their
 * messages delivered and un-acked; the fault happens while they wait, and the test checks
 * that messages were still unapplied at that moment.
 */
import { execFileSync } from 'node:child_process';
import type { PoolClient } from 'pg';
import amqp from 'amqplib';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from '../../db/fresh-database.js';
import { ControllerProcess } from '../../controller/controller-process.js';
import { AMQP_URL, deleteTopology, TestPublisher, volumeEvent } from '../notification-builder.js';

const suffix = randomBytes(4).toString('hex');
const exchange = `clb_test_crash_${suffix}`;
const queue = `clb-test-crash-${suffix}.notifications`;
const VOLUMES = 300;
const FIRST_BATCH = 10; // events per volume before the crash
const SECOND_BATCH = 4; // events per volume after the broker restart

let db: FreshDatabase;
const procs: ControllerProcess[] = [];
let brokerStopped = false;
/** Ledger locks still held (released in afterAll if a check failed while one was held). */
const heldLocks = new Set<() => Promise<void>>();

function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', args, { stdio: 'ignore', timeout: 60_000 });
}

function startConsumer(name: string): ControllerProcess {
  const p = new ControllerProcess(name, {
    DATABASE_URL: db.url,
    AMQP_URL,
    CLB_NOTIFICATION_EXCHANGES: exchange,
    CLB_NOTIFICATION_QUEUE: queue,
    CLB_PREFETCH: '64',
    // Only the consumer matters here; keep the scheduler quiet.
    CLB_SCHEDULE_INTERVAL: '3600',
    CLB_LOG_LEVEL: 'debug',
  });
  procs.push(p);
  return p;
}

async function count(sql: string): Promise<number> {
  const r = await db.pool.query<{ n: string }>(sql);
  return Number(r.rows[0]?.n);
}

/**
 * Holds an EXCLUSIVE lock on the ledger until `release`: the consumer's inserts wait, reads
 * (the test's counts) do not.
 */
async function blockLedger(): Promise<{ release: () => Promise<void> }> {
  const client: PoolClient = await db.pool.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE processed_notifications IN EXCLUSIVE MODE');
  const release = async (): Promise<void> => {
    heldLocks.delete(release);
    try {
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };
  heldLocks.add(release);
  return { release };
}

/** True when the broker refuses AMQP connections (it is really stopped). */
async function brokerRefuses(): Promise<boolean> {
  try {
    const conn = await amqp.connect(AMQP_URL);
    await conn.close();
    return false;
  } catch {
    return true;
  }
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  try {
    rabbitmqctl('status');
  } catch (err) {
    throw new Error('rabbitmqctl cannot reach the local RabbitMQ; this test restarts it', {
      cause: err,
    });
  }
  db = await freshDatabase();
  await db.pool.query(`CREATE TABLE test_volume_writes (volume_id uuid, size_gb integer)`);
  await db.pool.query(`CREATE FUNCTION test_count_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO test_volume_writes VALUES (NEW.id, NEW.size_gb); RETURN NULL; END $$`);
  await db.pool.query(`CREATE TRIGGER test_count_writes AFTER INSERT OR UPDATE ON volumes
    FOR EACH ROW EXECUTE FUNCTION test_count_write()`);
});

afterAll(async () => {
  for (const release of [...heldLocks]) await release().catch(() => undefined);
  if (brokerStopped) rabbitmqctl('start_app');
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await deleteTopology(exchange, [queue, `${queue}.dead-letter`]).catch(() => undefined);
  await db?.drop();
});

describe('consumer crash and broker restart', () => {
  it('loses no notification and applies none twice', async () => {
    const volumes = Array.from({ length: VOLUMES }, () => randomUUID());
    const t0 = Date.now() - 3600_000;
    const published = new Set<string>();
    // Event k of every volume resizes it to k GiB, at time t0 + k s: the last one wins.
    const batch = (from: number, to: number): Buffer[] => {
      const out: Buffer[] = [];
      for (let k = from; k <= to; k += 1) {
        for (const id of volumes) {
          const e = volumeEvent({
            eventType: 'volume.resize.end',
            volumeId: id,
            at: new Date(t0 + k * 1000),
            size: k,
          });
          published.add(e.messageId);
          out.push(e.body);
        }
      }
      return out;
    };

    const a = startConsumer('A');
    await a.waitForLog('consuming notifications');
    let publisher = await TestPublisher.open(exchange);
    const first = batch(1, FIRST_BATCH);
    const started = Date.now();
    await publisher.publish(first);
    await publisher.close();

    // Kill the consumer in the middle of the run: its next transactions are held on the
    // ledger lock, so it dies with messages delivered and not yet applied.
    await waitFor(
      'a third processed',
      async () =>
        (await count('SELECT count(*) AS n FROM processed_notifications')) >= first.length / 3,
      60_000,
    );
    const heldForKill = await blockLedger();
    const atKill = await count('SELECT count(*) AS n FROM processed_notifications');
    a.kill('SIGKILL');
    expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await heldForKill.release();
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(first.length);
    // Nothing more is applied once A is dead and before B starts.
    await new Promise((r) => setTimeout(r, 500));
    expect(await count('SELECT count(*) AS n FROM processed_notifications')).toBe(atKill);

    // A second consumer takes over; the broker restarts under it while messages are in flight.
    const b = startConsumer('B');
    await b.waitForLog('consuming notifications');
    await waitFor(
      'some progress by B',
      async () => (await count('SELECT count(*) AS n FROM processed_notifications')) > atKill + 200,
      60_000,
    );
    // Stop the broker while B is mid-stream: B's transactions wait on the ledger lock, so
    // messages are still unapplied when the broker goes away, and their acks cannot reach it.
    const heldForStop = await blockLedger();
    const atStop = await count('SELECT count(*) AS n FROM processed_notifications');
    expect(atStop).toBeLessThan(first.length);
    brokerStopped = true;
    rabbitmqctl('stop_app');
    expect(await brokerRefuses()).toBe(true);
    await heldForStop.release();
    rabbitmqctl('start_app');
    brokerStopped = false;
    expect(await brokerRefuses()).toBe(false);
    // Cinder's exchange is not durable: after the restart it is gone until someone declares it,
    // and B rebinds its durable queue when it reconnects.
    await b.waitForLog('consuming notifications', 60_000, 2);

    publisher = await TestPublisher.open(exchange);
    const second = batch(FIRST_BATCH + 1, FIRST_BATCH + SECOND_BATCH);
    await publisher.publish(second);
    await publisher.close();

    const total = first.length + second.length;
    await waitFor(
      `${total} processed`,
      async () => (await count('SELECT count(*) AS n FROM processed_notifications')) >= total,
      120_000,
    );
    const elapsed = (Date.now() - started) / 1000;

    // None lost: every published id is in the ledger, and nothing else is.
    const ids = await db.pool.query<{ message_id: string }>(
      'SELECT message_id FROM processed_notifications',
    );
    expect(ids.rowCount).toBe(total);
    expect(new Set(ids.rows.map((r) => r.message_id))).toEqual(published);

    // None applied twice: the writes counted by the trigger are exactly the applied messages.
    const applied = await count(
      `SELECT count(*) AS n FROM processed_notifications WHERE outcome = 'applied'`,
    );
    const writes = await count('SELECT count(*) AS n FROM test_volume_writes');
    expect(writes).toBe(applied);

    // And the inventory holds the newest state of every volume.
    const sizes = await db.pool.query<{ size_gb: number; n: string }>(
      'SELECT size_gb, count(*) AS n FROM volumes GROUP BY size_gb',
    );
    expect(sizes.rows).toEqual([{ size_gb: FIRST_BATCH + SECOND_BATCH, n: String(VOLUMES) }]);

    const duplicates = b.lines.filter(
      (l) => l.msg === 'notification applied' && l['outcome'] === 'duplicate',
    ).length;
    const stale = await count(
      `SELECT count(*) AS n FROM processed_notifications WHERE outcome = 'stale'`,
    );
    console.log(
      `crash test: ${total} messages in ${elapsed.toFixed(1)} s; SIGKILL after ${atKill}, broker stopped after ${atStop}; ` +
        `${applied} applied, ${stale} stale (older than the row), ${duplicates} redeliveries recognised as duplicates`,
    );
  }, 240_000);
});
