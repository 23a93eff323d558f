/**
 * Benchmark: one scheduler pass over a large inventory, the chunked writes of
 * src/jobs/scheduler.ts (two statements per 500 volumes) against the per-volume writes it
 * replaced (two autocommitted UPDATEs per volume, the same decisions, the same enqueues),
 * in the same run, each on its own fresh database seeded with the same volumes. Reports
 * the first pass (every policy new) and a second pass (nothing changed) for both.
 *
 *   npx tsx test/bench/scheduler-pass.ts [--volumes 10000]
 *
 * Needs the Postgres of the test suite (127.0.0.1:5432). Writes JSON under test/bench/results/.
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Queryable } from '../../src/db/queryable.js';
import {
  backendHostOf,
  listSchedulableVolumes,
  recordPolicy,
  recordSchedules,
  upsertPolledVolumes,
} from '../../src/db/volumes.js';
import { enqueueBackup } from '../../src/jobs/enqueue-backup.js';
import { runSchedulerPass } from '../../src/jobs/scheduler.js';
import { decideVolume, type SchedulerSettings } from '../../src/jobs/scheduler-decision.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { NO_PROJECT_QUOTA } from '../../src/policy/project-quota.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { writeResult } from './bench-volume.js';

const { values } = parseArgs({ options: { volumes: { type: 'string', default: '10000' } } });
const count = Number(values.volumes);
const settings: SchedulerSettings = {
  limits: DEFAULT_POLICY_LIMITS,
  timeZone: 'UTC',
  retryAfterSeconds: 3600,
  quota: NO_PROJECT_QUOTA,
};
const TAGS = ['daily', 'weekly', '30 2 * * *', 'every 7 minutes', 'off'];

async function seed(db: FreshDatabase, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1000) {
    await upsertPolledVolumes(
      db.pool,
      ids.slice(i, i + 1000).map((id, k) => ({
        seenAt: new Date(),
        volume: {
          id,
          name: `bench-${k}`,
          projectId: `project-${(i + k) % 50}`,
          status: 'available',
          sizeGb: 10,
          host: `stor${(i + k) % 4}@lvm#LVM`,
          backendHost: backendHostOf(`stor${(i + k) % 4}@lvm#LVM`),
          nameId: null,
          lvName: `volume-${id}`,
          metadata: { backup: TAGS[(i + k) % TAGS.length]! },
          attachments: [],
          bootable: false,
          volumeType: null,
          cinderUpdatedAt: null,
        },
      })),
    );
  }
}

/** The pass as it was: each volume's policy and schedule written by their own statement. */
async function perVolumePass(q: Queryable, now: Date): Promise<number> {
  let enqueued = 0;
  for (const v of await listSchedulableVolumes(q)) {
    const d = decideVolume(v, now, settings, 0);
    await recordPolicy(q, v.id, d.policy, now);
    if (d.policy.kind !== 'policy') continue;
    await recordSchedules(q, [
      {
        volumeId: v.id,
        nextDueAt: d.nextDueAt,
        skipReason: d.skipReason,
        quotaError: d.quotaError,
      },
    ]);
    if (
      d.enqueue &&
      (await enqueueBackup(q, { volume: v, reason: 'schedule' }, settings.quota)).job !== null
    )
      enqueued += 1;
  }
  return enqueued;
}

async function timed(fn: () => Promise<number>): Promise<{ seconds: number; enqueued: number }> {
  const t0 = process.hrtime.bigint();
  const enqueued = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, enqueued };
}

async function main(): Promise<void> {
  const ids = Array.from({ length: count }, () => randomUUID());
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; ${count} volumes`,
  );
  const baseline = await freshDatabase({ prefix: 'clb_bench' });
  const ours = await freshDatabase({ prefix: 'clb_bench' });
  const quotaDb = await freshDatabase({ prefix: 'clb_bench' });
  try {
    await seed(baseline, ids);
    await seed(ours, ids);
    await seed(quotaDb, ids);
    const now = new Date();
    const b1 = await timed(() => perVolumePass(baseline.pool, now));
    const o1 = await timed(
      async () => (await runSchedulerPass(ours.pool, settings, { now })).enqueued,
    );
    const b2 = await timed(() => perVolumePass(baseline.pool, now));
    const o2 = await timed(
      async () => (await runSchedulerPass(ours.pool, settings, { now })).enqueued,
    );
    if (b1.enqueued !== o1.enqueued) {
      throw new Error(`the passes disagree: ${b1.enqueued} vs ${o1.enqueued} jobs enqueued`);
    }
    const line = (what: string, b: { seconds: number }, o: { seconds: number }) =>
      `${what}: per-volume ${b.seconds.toFixed(2)} s, chunked ${o.seconds.toFixed(2)} s = ${(b.seconds / o.seconds).toFixed(2)}x`;
    console.log(line('first pass', b1, o1) + `, ${o1.enqueued} jobs enqueued by each`);
    console.log(line('second pass (no change)', b2, o2));
    // Every project under a quota they all fit: the due volumes are enqueued a project at a
    // time, each in a transaction holding the project's lock (enqueue-backup.ts).
    const withQuota = { ...settings, quota: { defaultBytes: 2 ** 50, perProject: new Map() } };
    const q1 = await timed(
      async () => (await runSchedulerPass(quotaDb.pool, withQuota, { now })).enqueued,
    );
    if (q1.enqueued !== o1.enqueued) {
      throw new Error(`the quota pass enqueued ${q1.enqueued} jobs, not ${o1.enqueued}`);
    }
    console.log(
      `first pass under a quota (50 projects): ${q1.seconds.toFixed(2)} s = ${(q1.seconds / o1.seconds).toFixed(2)}x the chunked pass without one`,
    );
    writeResult('scheduler-pass', {
      volumes: count,
      loadAverage: loadavg(),
      firstPass: { perVolume: b1, chunked: o1 },
      secondPass: { perVolume: b2, chunked: o2 },
      firstPassUnderQuota: q1,
    });
  } finally {
    await baseline.drop();
    await ours.drop();
    await quotaDb.drop();
  }
}

await main();
