/**
 * Benchmark: sustained ingestion of Cinder notifications through the real RabbitMQ into the
 * real Postgres, acked after commit, for the one-message-per-transaction path (baseline)
 * and the batched path, in the same run, on the same stream.
 *
 *   npx tsx test/bench/notifications.ts [--events 30000] [--volumes 2000] [--prefetch 256]
 *                                       [--batch 100] [--wait-ms 20] [--only batch|hints]
 *                                       [--rate 0] [--lookup-rate 200] [--confirm-by list|get]
 *                                       [--no-confirmer] [--log-level warn]
 *
 * Three contenders: one message per transaction, batches with payloads believed (no Cinder
 * lookup configured), and batches with notifications as hints (issue 10): steering claims
 * recorded and settled by the hint confirmer's Cinder reads (at most --lookup-rate requests
 * per s, 8 in flight, 2 s coalescing delay), whose rate for those events is reported apart.
 * --only batch leaves out the first, --only hints runs the last alone. --confirm-by list (the
 * controller's way) reads rounds of 20 or more hints from one list of the volumes changed
 * since their events (`updated_at=gte:`, 3.60) and the rest one GET each; get reads every
 * volume alone. --no-confirmer records hints but settles none (what ingestion costs without
 * the confirmer's reads); --log-level shows the consumer's warnings (retries, deadlocks) on
 * stderr. For each contender, what the consumer's Postgres backends were doing is sampled
 * every 50 ms (waits on row locks, WAL flushes, or on CPU) until the ledger is full.
 *
 * --rate 0 publishes everything as fast as the broker confirms (the rate is then what the
 * consumer sustains through a backlog); --rate N publishes N events/s (the lag is then the
 * steady-state delay between publish and commit).
 *
 * The stream: a cloud of --volumes volumes seeded in the OpenStack emulator (a third tagged
 * for backup, some with backup:on=detach), then the emulator's Cinder driven through a mix
 * of operations (attach/detach, snapshots, resizes, renames, retypes, creates and deletes)
 * whose notifications the emulator's oslo notifier writes as a real Cinder would, plus
 * `volume.exists` audits built on the real one in test/fixtures/cinder-notifications and
 * those 37 real messages themselves. The inventory is polled once before the operations,
 * as a controller that ran before would have it.
 *
 * Per contender: a fresh database, a consumer in a child process (its CPU measured by
 * itself), every message published as fast as the broker confirms; ingestion rate = events
 * over (last ledger row - first publish); lag = ledger row time - publish time of the
 * message. None lost: every published message id is in the ledger or the dead letters.
 * CPU of Postgres and RabbitMQ is read from /proc over the same window. Writes JSON to
 * $CLB_BENCH_DIR (default /var/tmp/clb-bench). Not part of `npm test`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { recordDeadLetter, type DeadLetterRecord } from '../../src/db/dead-notifications.js';
import pg from 'pg';
import { upsertPolledVolumes, type PolledVolume } from '../../src/db/volumes.js';
import { cinderChangedVolumes } from '../../src/inventory/cinder-changed-volumes.js';
import { cinderVolumeLookup, type VolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { inventoryVolumeOf } from '../../src/inventory/volume-from-cinder.js';
import { NotificationConsumer } from '../../src/notifications/consumer.js';
import { createLogger } from '../../src/log.js';
import { HintConfirmer } from '../../src/notifications/hint-confirmer.js';
import { processBatch } from '../../src/notifications/process-batch.js';
import { processMessage } from '../../src/notifications/process-message.js';
import { createOpenStackClients } from '../../src/openstack/clients.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase } from '../db/fresh-database.js';
import { volumeUsagePayload } from '../emulator/cinder-payloads.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { envelopeV2, innerMessage, type Json } from '../emulator/oslo-format.js';
import type { EmuVolume } from '../emulator/state.js';
import type { CreateVolumeSpec } from '../emulator/volume-lifecycle.js';
import { AMQP_URL, deleteTopology } from '../notifications/notification-builder.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    spec: { type: 'string', default: '' },
    events: { type: 'string', default: '30000' },
    volumes: { type: 'string', default: '2000' },
    prefetch: { type: 'string', default: '256' },
    batch: { type: 'string', default: '100' },
    'wait-ms': { type: 'string', default: '20' },
    only: { type: 'string', default: '' },
    rate: { type: 'string', default: '0' },
    'lookup-rate': { type: 'string', default: '200' },
    // Diagnosis: hints are recorded but the confirmer is not started (nothing is settled).
    'no-confirmer': { type: 'boolean', default: false },
    // How the confirmer reads Cinder: list (the volumes changed since, as the controller
    // does) or get (one GET /volumes/{id} per hinted volume).
    'confirm-by': { type: 'string', default: 'list' },
    'log-level': { type: 'string', default: 'silent' },
  },
});

const FIXTURES = fileURLToPath(new URL('../fixtures/cinder-notifications/', import.meta.url));

// ---- the consumer (child process) -----------------------------------------------------

interface ConsumerSpec {
  dbUrl: string;
  exchange: string;
  queue: string;
  mode: 'single' | 'batch' | 'hints';
  lookupRate: number;
  confirmer: boolean;
  confirmByList: boolean;
  logLevel: string;
  prefetch: number;
  batchSize: number;
  batchWaitMs: number;
  openstackEnv: Record<string, string>;
}

async function consumerRole(spec: ConsumerSpec): Promise<void> {
  // Connections stay open, so their CPU can be read from /proc at the end.
  const pool = new pg.Pool({
    connectionString: spec.dbUrl,
    max: 4,
    idleTimeoutMillis: 0,
    application_name: 'bench consumer',
  });
  const credentials = await loadOpenStackCredentials({ env: spec.openstackEnv });
  if (credentials === null) throw new Error('no OpenStack credentials for the lookups');
  const { cinder } = createOpenStackClients({ credentials });
  const cinderLookup = cinderVolumeLookup(cinder);
  // Where the consumer's time goes: handler calls, Cinder lookups.
  const spent = { handlerMs: 0, handlerCalls: 0, lookupMs: 0, lookups: 0 };
  const lookup: VolumeLookup = async (id) => {
    const t = performance.now();
    try {
      return await cinderLookup(id);
    } finally {
      spent.lookupMs += performance.now() - t;
      spent.lookups += 1;
    }
  };
  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      spent.handlerMs += performance.now() - t;
      spent.handlerCalls += 1;
    }
  };
  const logger = createLogger({ level: spec.logLevel, name: 'bench consumer' });
  const options = { pool, limits: DEFAULT_POLICY_LIMITS, lookup };
  const topology = {
    url: AMQP_URL,
    exchanges: [spec.exchange],
    queue: spec.queue,
    deadLetterQueue: `${spec.queue}.dead-letter`,
    routingKeys: ['notifications.info', 'notifications.error'],
    prefetch: spec.prefetch,
    statsIntervalMs: 0,
    logger,
    onDeadLetter: (r: DeadLetterRecord) => recordDeadLetter(pool, r),
  };
  // Notifications as hints: steering claims wait for a Cinder read by the confirmer.
  const confirmer =
    spec.mode === 'hints'
      ? new HintConfirmer({
          pool,
          lookup,
          ...(spec.confirmByList ? { listChanged: cinderChangedVolumes(cinder) } : {}),
          logger,
          limits: DEFAULT_POLICY_LIMITS,
          ratePerSecond: spec.lookupRate,
          concurrency: 8,
          intervalMs: 500,
        })
      : null;
  const consumer =
    spec.mode === 'single'
      ? new NotificationConsumer({
          ...topology,
          handle: (body, meta) => timed(() => processMessage(body, options, meta)),
        })
      : new NotificationConsumer({
          ...topology,
          batchSize: spec.batchSize,
          batchWaitMs: spec.batchWaitMs,
          handleBatch: (items) =>
            timed(() =>
              processBatch(items, {
                ...options,
                confirmSteering: confirmer !== null,
                hintDelayMs: 2000,
              }),
            ),
        });
  await consumer.start();
  if (spec.confirmer) confirmer?.start();
  const before = process.cpuUsage();
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === 'stop') break;
  }
  const cpu = process.cpuUsage(before);
  await consumer.stop();
  await confirmer?.stop();
  await pool.end();
  // stdin stays open: leave once the figures are out.
  process.stdout.write(
    `${JSON.stringify({ cpuUserS: cpu.user / 1e6, cpuSystemS: cpu.system / 1e6, stats: consumer.stats, spent, confirmer: confirmer?.stats ?? null, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`,
    () => process.exit(0),
  );
}

// ---- the stream -----------------------------------------------------------------------

/** A `volume.exists` audit for `v`, shaped on the real one (fixture 0020). */
function auditBody(template: Record<string, Json>, v: EmuVolume, now: Date): string {
  const payload = template['payload'] as Record<string, Json>;
  const inner = innerMessage({
    publisherId:
      typeof template['publisher_id'] === 'string' ? template['publisher_id'] : 'volume.bench',
    eventType: 'volume.exists',
    priority: 'INFO',
    payload: volumeUsagePayload(v, {
      audit_period_beginning: payload['audit_period_beginning'] ?? null,
      audit_period_ending: payload['audit_period_ending'] ?? null,
    }),
    context: {
      userId: v.userId,
      projectId: v.projectId,
      projectName: 'bench',
      roles: ['admin'],
      isAdmin: true,
    },
    now,
  });
  return envelopeV2(inner);
}

interface Stream {
  bodies: Buffer[];
  routingKeys: string[];
  byType: Record<string, number>;
  polled: PolledVolume[];
}

async function buildStream(emu: OpenStackEmulator, events: number, nVolumes: number) {
  const c = emu.control;
  const vols = c.seedVolumes(nVolumes, (i): CreateVolumeSpec => ({
    name: `bench-${i}`,
    size: 1 + (i % 50),
    metadata:
      i % 10 === 0
        ? { backup: 'daily', 'backup:on': 'detach' }
        : i % 3 === 0
          ? { backup: 'daily', 'backup:retention': 'last=7' }
          : {},
  }));
  // The inventory as a controller that polled before these events would hold it.
  const credentials = await loadOpenStackCredentials({ env: emu.env() });
  if (credentials === null) throw new Error('no emulator credentials');
  const { cinder } = createOpenStackClients({ credentials });
  const polled: PolledVolume[] = [];
  const seenAt = new Date();
  for (let marker: string | null = null; ;) {
    const page = await cinder.listVolumesPage({ marker });
    for (const raw of page.volumes) {
      const m = inventoryVolumeOf(raw);
      if (m.ok) polled.push({ volume: m.value, seenAt });
    }
    if (page.nextMarker === null) break;
    marker = page.nextMarker;
  }
  await new Promise((r) => setTimeout(r, 20));

  const fixtureFiles = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const audit = JSON.parse(
    (
      JSON.parse(readFileSync(join(FIXTURES, '0020-volume.exists.json'), 'utf8')) as Record<
        string,
        string
      >
    )['oslo.message'] as string,
  ) as Record<string, Json>;
  const bodies: Buffer[] = fixtureFiles.map((f) => readFileSync(join(FIXTURES, f)));
  const routingKeys: string[] = fixtureFiles.map((f) =>
    f.includes('scheduler') ? 'notifications.error' : 'notifications.info',
  );
  const notifier = c.notifier;
  if (notifier === null || notifier === undefined) throw new Error('the emulator has no notifier');
  const live = vols.map((v) => v.id);
  const attached = new Set<string>();
  let taken = notifier.published.length;
  let n = 0;
  const pick = () => live[Math.floor(Math.random() * live.length)] as string;
  const volume = (id: string): EmuVolume => {
    const v = c.volume(id);
    if (v === undefined) throw new Error(`the emulator lost volume ${id}`);
    return v;
  };
  const drain = (): void => {
    for (; taken < notifier.published.length; taken++) {
      const p = notifier.published[taken];
      if (p === undefined) continue;
      bodies.push(Buffer.from(p.body));
      routingKeys.push(p.routingKey);
    }
  };
  // Operations run on many volumes at once (as many users would), one at a time per volume,
  // so each volume's events keep their order; the broker's confirms are the slow part.
  const busy = new Set<string>();
  const step = async (id: string): Promise<void> => {
    const r = Math.random();
    n += 1;
    if (r < 0.35) {
      bodies.push(Buffer.from(auditBody(audit, volume(id), new Date())));
      routingKeys.push('notifications.info');
    } else if (r < 0.6) {
      if (attached.has(id)) {
        await c.detachVolume(id);
        attached.delete(id);
      } else {
        await c.attachVolume(id, randomUUID(), { hostName: 'compute1' });
        attached.add(id);
      }
    } else if (r < 0.75) {
      const snap = await c.createSnapshot(id);
      await c.deleteSnapshot(snap);
    } else if (r < 0.83) {
      await c.resizeVolume(id, volume(id).size + 1);
    } else if (r < 0.9) {
      await c.updateVolume(id, { name: `bench-renamed-${n}` });
    } else if (r < 0.92) {
      await c.retypeVolume(id, 'lvmdriver-1');
    } else {
      const v = await c.createVolume({ name: `bench-new-${n}`, size: 1 });
      live.push(v.id);
      if (!attached.has(id) && live.length > nVolumes / 2) {
        live.splice(live.indexOf(id), 1);
        await c.deleteVolume(id);
      }
    }
  };
  const worker = async (): Promise<void> => {
    while (bodies.length + notifier.published.length - taken < events) {
      const id = pick();
      if (busy.has(id) || !live.includes(id)) continue;
      busy.add(id);
      try {
        await step(id);
      } catch {
        // An operation the volume's state does not allow (Cinder would refuse it too).
      } finally {
        busy.delete(id);
      }
      drain();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  drain();
  bodies.length = Math.min(bodies.length, events);
  routingKeys.length = bodies.length;
  const byType: Record<string, number> = {};
  for (const b of bodies) {
    const outer = JSON.parse(b.toString()) as Record<string, unknown>;
    const inner = (
      typeof outer['oslo.message'] === 'string' ? JSON.parse(outer['oslo.message']) : outer
    ) as { event_type: string };
    byType[inner.event_type] = (byType[inner.event_type] ?? 0) + 1;
  }
  return { bodies, routingKeys, byType, polled } satisfies Stream;
}

// ---- measuring --------------------------------------------------------------------------

const TICK = 100; // USER_HZ on Linux

/** CPU seconds so far of the processes `pids`. */
function cpuOfPids(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks / TICK;
}

/** CPU seconds so far of every process whose command name is one of `names`. */
function cpuOf(names: string[]): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!names.some((n) => comm.startsWith(n))) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks / TICK;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

interface Result {
  contender: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  publishSeconds: number;
  lagMs: { p50: number; p95: number; p99: number; max: number };
  consumerCpu: { seconds: number; percentOfOneCore: number };
  /** Every postgres process of the machine (other users' too) over the window. */
  postgresCpuPercent: number;
  /** The consumer's own backends over their lifetime. */
  postgresBackendsCpuPercent: number;
  rabbitmqCpuPercent: number;
  ledger: number;
  deadLettered: number;
  lost: number;
  outcomes: Record<string, number>;
  jobs: number;
  consumerStats: unknown;
  /** Hints mode: the steering events, settled through Cinder reads. */
  hints: {
    hintedEvents: number;
    settledAfterSeconds: number;
    hintedEventsPerSecond: number;
    confirmer: Record<string, number> | null;
  } | null;
  maxRssMiB: number;
  /** What the consumer's backends were doing, sampled every 50 ms until the ledger was full. */
  backendSamples: { samples: number; active: Record<string, number> };
}

/**
 * Samples pg_stat_activity every 50 ms: for each active backend of the consumer process
 * (batches and confirmer alike), its wait (none: on CPU) and the start of its statement.
 */
function sampleBackends(pool: pg.Pool): {
  stop: () => Promise<{ samples: number; active: Record<string, number> }>;
} {
  const active: Record<string, number> = {};
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const r = await pool.query<{ w: string | null; q: string }>(
        `SELECT wait_event_type || ':' || wait_event AS w,
                regexp_replace(left(query, 70), '\\s+', ' ', 'g') AS q
           FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'bench consumer'
            AND state = 'active'`,
      );
      samples += 1;
      for (const row of r.rows) {
        const key = `${row.w ?? 'cpu'} | ${row.q}`;
        active[key] = (active[key] ?? 0) + 1;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { samples, active };
    },
  };
}

function startChild(spec: ConsumerSpec): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--role',
      'consumer',
      '--spec',
      JSON.stringify(spec),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) =>
      d.toString().startsWith('ready') ? resolve() : reject(new Error(d.toString())),
    );
    child.once('exit', (code) => reject(new Error(`consumer exited with ${code}`)));
  });
  return { child, ready };
}

async function runContender(
  name: string,
  mode: 'single' | 'batch' | 'hints',
  stream: Stream,
  emu: OpenStackEmulator,
  o: { prefetch: number; batchSize: number; batchWaitMs: number },
): Promise<Result> {
  const db = await freshDatabase({ prefix: 'clb_bench' });
  const suffix = randomBytes(4).toString('hex');
  const exchange = `clb_bench_${suffix}`;
  const queue = `clb-bench-${suffix}.notifications`;
  try {
    await upsertPolledVolumes(db.pool, stream.polled);
    const { child, ready } = startChild({
      dbUrl: db.url,
      exchange,
      queue,
      mode,
      lookupRate: Number(values['lookup-rate']),
      confirmer: values['no-confirmer'] !== true,
      confirmByList: values['confirm-by'] !== 'get',
      logLevel: values['log-level'],
      prefetch: o.prefetch,
      batchSize: o.batchSize,
      batchWaitMs: o.batchWaitMs,
      openstackEnv: emu.env(),
    });
    await ready;
    const output = new Promise<string>((resolve) => {
      let text = '';
      child.stdout?.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('{') && text.endsWith('\n')) resolve(text);
      });
      child.once('exit', () => resolve(text));
    });

    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    const sentAt = new Map<string, number>();
    const ids = stream.bodies.map((b) => {
      const outer = JSON.parse(b.toString()) as Record<string, unknown>;
      const inner = (
        typeof outer['oslo.message'] === 'string' ? JSON.parse(outer['oslo.message']) : outer
      ) as { message_id: string };
      return inner.message_id;
    });
    const pgBefore = cpuOf(['postgres']);
    const mqBefore = cpuOf(['beam.smp']);
    const sampler = sampleBackends(db.pool);
    const t0 = Date.now();
    // As fast as the broker confirms, or at --rate events/s in 50 ms ticks (steady state).
    const rate = Number(values.rate);
    const CHUNK = rate > 0 ? Math.max(1, Math.round(rate / 20)) : 500;
    for (let i = 0; i < stream.bodies.length; i += CHUNK) {
      if (rate > 0) {
        const due = t0 + (i / rate) * 1000;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      const now = Date.now();
      for (let k = i; k < Math.min(i + CHUNK, stream.bodies.length); k++) {
        ch.publish(exchange, stream.routingKeys[k] as string, stream.bodies[k] as Buffer, {
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          deliveryMode: 2,
        });
        sentAt.set(ids[k] as string, now);
      }
      await ch.waitForConfirms();
    }
    const publishSeconds = (Date.now() - t0) / 1000;
    await conn.close();

    const total = stream.bodies.length;
    const distinct = new Set(ids).size;
    const deadline = Date.now() + 600_000;
    let done = 0;
    for (;;) {
      const r = await db.pool.query<{ n: string; d: string }>(
        `SELECT (SELECT count(*) FROM processed_notifications) AS n,
                (SELECT count(*) FROM dead_notifications) AS d`,
      );
      done = Number(r.rows[0]?.n) + Number(r.rows[0]?.d);
      if (done >= distinct || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    if (done < distinct)
      console.log(`  only ${done} of ${distinct} accounted for after 10 minutes`);
    const waits = await sampler.stop();
    // Hints: the steering claims are settled once the confirmer has read every hinted volume.
    let hintsDrainedAt: number | null = null;
    if (mode === 'hints' && values['no-confirmer'] !== true) {
      for (;;) {
        const r = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM volume_hints');
        if (Number(r.rows[0]?.n) === 0 || Date.now() > deadline) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      hintsDrainedAt = Date.now();
    }
    const backends = await db.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'bench consumer'`,
    );
    const backendCpu = cpuOfPids(backends.rows.map((r) => r.pid));
    const pgCpu = cpuOf(['postgres']) - pgBefore;
    const mqCpu = cpuOf(['beam.smp']) - mqBefore;
    child.stdin?.write('stop\n');
    const last = (await output).trim().split('\n').pop() ?? '{}';
    const consumer = JSON.parse(last) as {
      cpuUserS: number;
      cpuSystemS: number;
      stats: unknown;
      spent: unknown;
      confirmer: Record<string, number> | null;
      maxRssMiB: number;
    };

    const ledger = await db.pool.query<{ message_id: string; at: Date; outcome: string }>(
      `SELECT message_id, processed_at AS at, outcome FROM processed_notifications`,
    );
    const dead = await db.pool.query<{ message_id: string | null }>(
      'SELECT message_id FROM dead_notifications',
    );
    const jobs = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM jobs');
    const accounted = new Set([
      ...ledger.rows.map((r) => r.message_id),
      ...dead.rows.map((r) => r.message_id ?? ''),
    ]);
    const lost = [...new Set(ids)].filter((id) => !accounted.has(id)).length;
    const lastAt = Math.max(...ledger.rows.map((r) => r.at.getTime()));
    const lags = ledger.rows
      .map((r) => r.at.getTime() - (sentAt.get(r.message_id) ?? NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    const seconds = (lastAt - t0) / 1000;
    const outcomes: Record<string, number> = {};
    for (const r of ledger.rows) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    const cpuS = consumer.cpuUserS + consumer.cpuSystemS;
    return {
      contender: name,
      events: total,
      seconds,
      eventsPerSecond: total / seconds,
      publishSeconds,
      lagMs: {
        p50: percentile(lags, 50),
        p95: percentile(lags, 95),
        p99: percentile(lags, 99),
        max: lags[lags.length - 1] ?? NaN,
      },
      consumerCpu: { seconds: cpuS, percentOfOneCore: (100 * cpuS) / seconds },
      postgresCpuPercent: (100 * pgCpu) / seconds,
      postgresBackendsCpuPercent: (100 * backendCpu) / seconds,
      rabbitmqCpuPercent: (100 * mqCpu) / seconds,
      ledger: ledger.rowCount ?? 0,
      deadLettered: dead.rowCount ?? 0,
      lost,
      outcomes,
      jobs: Number(jobs.rows[0]?.n),
      consumerStats: { ...(consumer.stats as object), spent: consumer.spent },
      hints:
        hintsDrainedAt === null
          ? null
          : {
              hintedEvents: outcomes['hinted'] ?? 0,
              settledAfterSeconds: (hintsDrainedAt - t0) / 1000,
              hintedEventsPerSecond: (outcomes['hinted'] ?? 0) / ((hintsDrainedAt - t0) / 1000),
              confirmer: consumer.confirmer,
            },
      maxRssMiB: consumer.maxRssMiB,
      backendSamples: waits,
    };
  } finally {
    await deleteTopology(exchange, [queue, `${queue}.dead-letter`]).catch(() => undefined);
    await db.drop();
  }
}

function show(r: Result): void {
  console.log(
    `  ${r.contender.padEnd(34)} ${r.eventsPerSecond.toFixed(0).padStart(6)} events/s  ` +
      `(${r.events} in ${r.seconds.toFixed(2)} s; published in ${r.publishSeconds.toFixed(2)} s)\n` +
      `  ${''.padEnd(34)} lag p50 ${r.lagMs.p50} ms, p95 ${r.lagMs.p95} ms, p99 ${r.lagMs.p99} ms, max ${r.lagMs.max} ms\n` +
      `  ${''.padEnd(34)} CPU: consumer ${r.consumerCpu.percentOfOneCore.toFixed(0)} % of a core ` +
      `(${r.consumerCpu.seconds.toFixed(2)} s, RSS ${r.maxRssMiB.toFixed(0)} MiB), postgres: its backends ${r.postgresBackendsCpuPercent.toFixed(0)} %, all ${r.postgresCpuPercent.toFixed(0)} %, ` +
      `rabbitmq ${r.rabbitmqCpuPercent.toFixed(0)} %\n` +
      `  ${''.padEnd(34)} ledger ${r.ledger}, dead-lettered ${r.deadLettered}, lost ${r.lost}, jobs ${r.jobs}, ` +
      `outcomes ${JSON.stringify(r.outcomes)}\n` +
      `  ${''.padEnd(34)} consumer time: ${JSON.stringify((r.consumerStats as { spent?: unknown }).spent ?? {})}` +
      (r.hints === null
        ? ''
        : `\n  ${''.padEnd(34)} steering events (hinted) ${r.hints.hintedEvents}: all settled through Cinder ` +
          `${r.hints.settledAfterSeconds.toFixed(2)} s after the first publish = ${r.hints.hintedEventsPerSecond.toFixed(0)} events/s; ` +
          `confirmer ${JSON.stringify(r.hints.confirmer)}`),
  );
  const top = Object.entries(r.backendSamples.active)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8);
  console.log(
    `  ${''.padEnd(34)} backends active, of ${r.backendSamples.samples} samples (50 ms) until the ledger was full:\n` +
      top.map(([k, n]) => `  ${''.padEnd(36)}${String(n).padStart(5)}  ${k}`).join('\n'),
  );
}

async function main(): Promise<void> {
  const events = Number(values.events);
  const o = {
    prefetch: Number(values.prefetch),
    batchSize: Number(values.batch),
    batchWaitMs: Number(values['wait-ms']),
  };
  const emu = await startOpenStackEmulator({
    notifier: {
      exchange: `clb_bench_gen_${randomBytes(4).toString('hex')}`,
      declareDefaultQueue: false,
    },
    createDelayMs: 0,
  });
  try {
    const started = Date.now();
    console.log(`building a stream of ${events} events...`);
    const stream = await buildStream(emu, events, Number(values.volumes));
    console.log(
      `stream: ${stream.bodies.length} events over ${stream.polled.length} polled volumes, built in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(
      `  mix: ${Object.entries(stream.byType)
        .sort((a, b) => b[1] - a[1])
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')}`,
    );
    console.log(
      `machine: ${cpus().length} cores, load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    const results: Result[] = [];
    const only = values.only;
    if (only !== '' && only !== 'batch' && only !== 'hints') {
      throw new Error(`--only takes batch or hints, not ${only}`);
    }
    const base =
      only === ''
        ? await runContender('one message per transaction', 'single', stream, emu, o)
        : null;
    if (base !== null) {
      show(base);
      results.push(base);
    }
    const b =
      only === 'hints'
        ? null
        : await runContender(
            `batches (prefetch ${o.prefetch}, ${o.batchSize} msgs / ${o.batchWaitMs} ms)`,
            'batch',
            stream,
            emu,
            o,
          );
    if (b !== null) {
      show(b);
      results.push(b);
    }
    const h = await runContender(
      `batches, notifications as hints (Cinder ${values['confirm-by'] === 'get' ? 'GET per volume' : 'list of changes'}, requests <= ${values['lookup-rate']}/s${values['no-confirmer'] === true ? ', confirmer not started' : ''})`,
      'hints',
      stream,
      emu,
      o,
    );
    show(h);
    results.push(h);
    if (base !== null && b !== null) {
      console.log(
        `\n  batched vs one per transaction: ${(b.eventsPerSecond / base.eventsPerSecond).toFixed(2)}x the rate, ` +
          `${(b.consumerCpu.seconds / b.events / (base.consumerCpu.seconds / base.events)).toFixed(2)}x the consumer CPU per event, ` +
          `${(b.lagMs.p99 / base.lagMs.p99).toFixed(3)}x the p99 lag`,
      );
    }
    for (const r of results.filter((x) => x !== base)) {
      console.log(
        `  ${r.contender}: target >= 2000 events/s ${r.eventsPerSecond >= 2000 ? 'met' : 'missed'} (${r.eventsPerSecond.toFixed(0)}); none lost: ${r.lost === 0 ? 'yes' : `NO (${r.lost})`}`,
      );
    }
    const dir = process.env['CLB_BENCH_DIR'] ?? '/var/tmp/clb-bench';
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `notifications-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ at: new Date().toISOString(), options: { events, ...o, volumes: Number(values.volumes), rate: Number(values.rate) }, load: loadavg(), mix: stream.byType, results }, null, 2)}\n`,
      { mode: 0o600 },
    );
    console.log(`  JSON: ${file}`);
  } finally {
    await emu.close();
  }
}

if (values.role === 'consumer') {
  consumerRole(JSON.parse(values.spec) as ConsumerSpec).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
