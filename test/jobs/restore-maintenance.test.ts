/**
 * A restore's target held in Cinder's `maintenance` status from enqueue to the end of its
 * job (issue 10, point 6), against a real Postgres and the OpenStack emulator's Cinder: the
 * job is claimable only once Cinder holds the target, an attach meanwhile is refused, the
 * leader's pass puts the volume back after success, failure, cancel or a lease that lapsed
 * for good, and after a controller that died in between; a service user without the admin
 * role gets the restore refused with nothing left in maintenance; the setting off changes
 * nothing in Cinder.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listJobEvents } from '../../src/db/events.js';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { enqueueRestore, MAINTENANCE_PAYLOAD_KEY } from '../../src/jobs/enqueue-restore.js';
import type { Job } from '../../src/jobs/job.js';
import {
  claimJobs,
  completeJob,
  failJob,
  findOpenJob,
  getJob,
  cancelJob,
} from '../../src/jobs/queue.js';
import {
  releaseEndedRestoreTargets,
  restoreTargetReleaseTask,
} from '../../src/jobs/release-restore-targets.js';
import { enqueueHeldRestore, getHold, openHoldOf } from '../../src/jobs/restore-target-holds.js';
import {
  lookUpTargetVolume,
  type TargetStatusCinder,
} from '../../src/jobs/restore-target-volume.js';
import { silentLogger } from '../../src/log.js';
import type { OpenStackClients } from '../../src/openstack/clients.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { clientsFromEnv } from '../openstack/clients-from-env.js';

const HOST = 'stor1@lvm';
const FAST = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 5_000 };

let db: FreshDatabase;
let emu: OpenStackEmulator;
let admin: OpenStackClients;
let member: OpenStackClients;
let cinder: TargetStatusCinder;

beforeAll(async () => {
  db = await freshDatabase();
  emu = await startOpenStackEmulator({ notifier: false });
  admin = await clientsFromEnv(emu.env(), FAST);
  const d = emu.credentials.demo;
  member = await clientsFromEnv(
    {
      ...emu.env(),
      OS_USERNAME: d.username,
      OS_PASSWORD: d.password,
      OS_PROJECT_NAME: d.projectName,
    },
    FAST,
  );
  cinder = {
    lookup: cinderVolumeLookup(admin.cinder),
    resetStatus: (id, status) => admin.cinder.resetStatus(id, status),
  };
});
afterAll(async () => {
  await emu?.close();
  await db?.drop();
});

/** A backed-up volume of the inventory (the restore job belongs to it). */
async function sourceVolume(): Promise<string> {
  const id = randomUUID();
  await putVolume(db.pool, {
    id,
    projectId: emu.credentials.demo.projectId,
    status: 'available',
    sizeGb: 1,
    host: `${HOST}#LVM`,
    lvName: `volume-${id}`,
  });
  return id;
}

/** An available, detached target volume in the emulated Cinder. */
async function targetVolume(projectId?: string): Promise<string> {
  const v = await emu.control.createVolume({
    size: 1,
    host: `${HOST}#LVM`,
    ...(projectId === undefined ? {} : { projectId }),
  });
  return v.id;
}

async function enqueue(
  sourceId: string,
  targetId: string,
  opts: { port?: TargetStatusCinder; setMaintenance?: boolean } = {},
): Promise<Job | null> {
  const target = await lookUpTargetVolume(cinder.lookup, targetId, HOST);
  return enqueueRestore(
    db.pool,
    opts.port ?? cinder,
    {
      job: {
        volumeId: sourceId,
        backendHost: HOST,
        lvName: `volume-${sourceId}`,
        reason: 'manual',
        payload: { backupRowId: 1, requestedBy: 'test' },
      },
      target,
      setMaintenance: opts.setMaintenance ?? true,
    },
    silentLogger,
  );
}

function claim(agentId = 'agent-1'): Promise<Job[]> {
  return claimJobs(db.pool, { agentId, hosts: [HOST], limit: 10, leaseSeconds: 60 });
}

function statusOf(volumeId: string): string | undefined {
  return emu.control.volume(volumeId)?.status;
}

/** The error a promise rejects with (or a marker when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Record<string, unknown>;
  }
  return { resolved: true };
}

function resetRequests(): number {
  return emu.control
    .requests('cinder')
    .filter((r) => r.method === 'POST' && r.path.endsWith('/action')).length;
}

describe('a restore holds its target in maintenance', () => {
  it('sets maintenance before the job can be claimed, refuses attaches, and puts it back after success', async () => {
    const src = await sourceVolume();
    const tgt = await targetVolume();
    let claimedWhileSetting: Job[] | null = null;
    const watching: TargetStatusCinder = {
      lookup: cinder.lookup,
      resetStatus: async (id, status) => {
        // An agent polling while Cinder is asked finds nothing to claim.
        claimedWhileSetting = await claim();
        await cinder.resetStatus(id, status);
      },
    };
    const job = await enqueue(src, tgt, { port: watching });
    expect(job).not.toBeNull();
    expect(claimedWhileSetting).toEqual([]);
    expect(statusOf(tgt)).toBe('maintenance');
    expect(job?.payload[MAINTENANCE_PAYLOAD_KEY]).toMatchObject({
      status: 'maintenance',
      previousStatus: 'available',
    });
    expect(job?.payload['targetVolume']).toMatchObject({ id: tgt, status: 'available' });

    // A user attaching the volume during the restore: Cinder refuses.
    const attach = await rejection(emu.control.attachVolume(tgt, randomUUID()));
    expect(attach['status']).toBe(400);
    expect(String(attach['message'])).toContain('maintenance');
    expect(emu.control.volume(tgt)?.attachments).toEqual([]);

    const [claimed] = await claim();
    expect(claimed?.id).toBe(job?.id);
    // Running: nothing is released yet.
    expect(await releaseEndedRestoreTargets(db.pool, cinder)).toEqual({ released: 0, failed: 0 });
    expect(statusOf(tgt)).toBe('maintenance');

    expect(await completeJob(db.pool, claimed?.id ?? 0, 'agent-1', {})).toBe(true);
    expect(await releaseEndedRestoreTargets(db.pool, cinder)).toEqual({ released: 1, failed: 0 });
    expect(statusOf(tgt)).toBe('available');
    expect(await openHoldOf(db.pool, tgt)).toBeNull();
    const kinds = (await listJobEvents(db.pool, job?.id ?? 0)).map((e) => e.kind);
    expect(kinds).toEqual(['restore.target-maintenance', 'restore.target-released']);
    // Released once: the next pass has nothing to do, and the volume can be attached again.
    expect(await releaseEndedRestoreTargets(db.pool, cinder)).toEqual({ released: 0, failed: 0 });
    await emu.control.attachVolume(tgt, randomUUID());
    expect(statusOf(tgt)).toBe('in-use');
  });

  it('puts the target back after a failed, a cancelled and a lapsed restore, not before', async () => {
    const cases: [string, (job: Job) => Promise<unknown>][] = [
      [
        'failed',
        (job) =>
          failJob(db.pool, job.id, 'agent-1', {
            code: 'RESTORE_FAILED',
            message: 'mkfs failed',
            retryable: false,
            retryInSeconds: 0,
          }),
      ],
      [
        'cancelled',
        async (job) => {
          await cancelJob(db.pool, job.id);
          // The agent stops it at its next renewal and marks it cancelled.
          await db.pool.query(
            `UPDATE jobs SET state = 'cancelled', finished_at = now(), locked_by = NULL
              WHERE id = $1`,
            [job.id],
          );
        },
      ],
      [
        'lapsed on its last attempt',
        (job) =>
          db.pool.query(
            `UPDATE jobs SET attempts = max_attempts,
                    lease_expires_at = now() - interval '1 hour' WHERE id = $1`,
            [job.id],
          ),
      ],
    ];
    for (const [what, end] of cases) {
      const src = await sourceVolume();
      const tgt = await targetVolume();
      const job = await enqueue(src, tgt);
      expect(statusOf(tgt), what).toBe('maintenance');
      const [claimed] = await claim();
      expect(claimed?.id, what).toBe(job?.id);
      // A retryable failure sends the job back to the queue: the target stays held.
      await failJob(db.pool, claimed?.id ?? 0, 'agent-1', {
        code: 'DEST_FULL',
        message: 'full',
        retryable: true,
        retryInSeconds: 0,
      });
      expect((await releaseEndedRestoreTargets(db.pool, cinder)).released, what).toBe(0);
      expect(statusOf(tgt), what).toBe('maintenance');
      const [again] = await claim();
      expect(again?.id, what).toBe(job?.id);
      await end(again as Job);
      expect((await releaseEndedRestoreTargets(db.pool, cinder)).released, what).toBe(1);
      expect(statusOf(tgt), what).toBe('available');
    }
  });

  it('is repaired by the next leader when the controller died before putting it back', async () => {
    // A restore that ended while no leader ran: the hold is all that is left.
    const src = await sourceVolume();
    const tgt = await targetVolume();
    const job = await enqueue(src, tgt);
    await db.pool.query(`UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1`, [
      job?.id,
    ]);
    // An enqueuer that died after Cinder set maintenance, before the job became claimable.
    const src2 = await sourceVolume();
    const tgt2 = await targetVolume();
    const held = await enqueueHeldRestore(
      db.pool,
      { volumeId: src2, backendHost: HOST, lvName: `volume-${src2}`, reason: 'manual' },
      { volumeId: tgt2, previousStatus: 'available' },
    );
    await admin.cinder.resetStatus(tgt2, 'maintenance');
    expect(await claim()).toEqual([]);
    // Too recent: the enqueuer may still be at work.
    expect((await releaseEndedRestoreTargets(db.pool, cinder)).released).toBe(1);
    expect(statusOf(tgt)).toBe('available');
    expect(statusOf(tgt2)).toBe('maintenance');
    await db.pool.query(
      `UPDATE restore_target_holds SET created_at = now() - interval '1 hour' WHERE id = $1`,
      [held?.hold.id],
    );

    // A new leader: the controller's periodic task, started afresh.
    const task = restoreTargetReleaseTask({ pool: db.pool, cinder, intervalSeconds: 3600 });
    task.start();
    try {
      for (let i = 0; i < 200 && task.runs === 0 && task.failures === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await task.stop();
    }
    expect(task.failures).toBe(0);
    expect(statusOf(tgt2)).toBe('available');
    const ended = await getJob(db.pool, held?.job.id ?? 0);
    expect(ended).toMatchObject({ state: 'failed', lastErrorCode: 'TARGET_MAINTENANCE_FAILED' });
    expect(await getHold(db.pool, held?.hold.id ?? 0)).toMatchObject({
      phase: 'released',
      releasedTo: 'available',
    });
  });

  it('leaves alone a target someone else took out of maintenance', async () => {
    const src = await sourceVolume();
    const tgt = await targetVolume();
    const job = await enqueue(src, tgt);
    await emu.control.resetStatus(tgt, 'error');
    await db.pool.query(`UPDATE jobs SET state = 'failed', finished_at = now() WHERE id = $1`, [
      job?.id,
    ]);
    const before = resetRequests();
    expect((await releaseEndedRestoreTargets(db.pool, cinder)).released).toBe(1);
    expect(statusOf(tgt)).toBe('error');
    expect(resetRequests()).toBe(before);
  });

  it('keeps a hold open while Cinder cannot be reached, and releases it once it can', async () => {
    const src = await sourceVolume();
    const tgt = await targetVolume();
    const job = await enqueue(src, tgt);
    await db.pool.query(`UPDATE jobs SET state = 'failed', finished_at = now() WHERE id = $1`, [
      job?.id,
    ]);
    emu.control.fail('cinder', { status: 503, times: Infinity });
    try {
      expect(await releaseEndedRestoreTargets(db.pool, cinder)).toEqual({
        released: 0,
        failed: 1,
      });
    } finally {
      emu.control.clearFailures();
    }
    const hold = await openHoldOf(db.pool, tgt);
    expect(hold?.attempts).toBe(1);
    expect(statusOf(tgt)).toBe('maintenance');
    await db.pool.query('UPDATE restore_target_holds SET next_try_at = now() WHERE id = $1', [
      hold?.id,
    ]);
    expect((await releaseEndedRestoreTargets(db.pool, cinder)).released).toBe(1);
    expect(statusOf(tgt)).toBe('available');
  });
});

describe('a restore Cinder will not hold is refused', () => {
  it('refuses with TARGET_MAINTENANCE_FAILED when the service user lacks the admin role', async () => {
    const src = await sourceVolume();
    const tgt = await targetVolume(emu.credentials.demo.projectId);
    const noAdmin: TargetStatusCinder = {
      lookup: cinder.lookup,
      resetStatus: (id, status) => member.cinder.resetStatus(id, status),
    };
    const err = await rejection(enqueue(src, tgt, { port: noAdmin }));
    expect(err['code']).toBe('TARGET_MAINTENANCE_FAILED');
    expect(String(err['message'])).toContain('admin role');
    expect(statusOf(tgt)).toBe('available');
    expect(await openHoldOf(db.pool, tgt)).toBeNull();
    // The job never became claimable and does not block the next request.
    expect(await claim()).toEqual([]);
    expect(await findOpenJob(db.pool, src, 'restore')).toBeNull();
    const failed = await db.pool.query<{ state: string; last_error_code: string }>(
      `SELECT state, last_error_code FROM jobs WHERE volume_id = $1`,
      [src],
    );
    expect(failed.rows).toEqual([
      { state: 'failed', last_error_code: 'TARGET_MAINTENANCE_FAILED' },
    ]);
  });

  it('refuses when an attach slipped in between the check and maintenance, and puts it back in-use', async () => {
    const src = await sourceVolume();
    const tgt = await targetVolume();
    const racing: TargetStatusCinder = {
      lookup: cinder.lookup,
      resetStatus: async (id, status) => {
        // A user's attach lands just before Cinder takes the maintenance request.
        if (status === 'maintenance') await emu.control.attachVolume(id, randomUUID());
        await cinder.resetStatus(id, status);
      },
    };
    const err = await rejection(enqueue(src, tgt, { port: racing }));
    expect(err['code']).toBe('TARGET_REFUSED');
    expect(String(err['message'])).toContain('attached');
    expect(statusOf(tgt)).toBe('in-use');
    expect(await openHoldOf(db.pool, tgt)).toBeNull();
    expect(await claim()).toEqual([]);
  });

  it('refuses a second restore onto a target another restore holds', async () => {
    const tgt = await targetVolume();
    const checkedTwice = await lookUpTargetVolume(cinder.lookup, tgt, HOST);
    const first = await enqueue(await sourceVolume(), tgt);
    expect(first).not.toBeNull();
    const src2 = await sourceVolume();
    const err = await rejection(
      enqueueRestore(db.pool, cinder, {
        job: { volumeId: src2, backendHost: HOST, lvName: `volume-${src2}`, reason: 'manual' },
        target: checkedTwice,
        setMaintenance: true,
      }),
    );
    expect(err['code']).toBe('TARGET_IN_USE');
    expect(await findOpenJob(db.pool, src2, 'restore')).toBeNull();
    await cancelJob(db.pool, first?.id ?? 0);
    expect((await releaseEndedRestoreTargets(db.pool, cinder)).released).toBe(1);
  });
});

describe('[restore] set_maintenance = false', () => {
  it('queues the restore claimable at once and changes nothing in Cinder', async () => {
    const src = await sourceVolume();
    const tgt = await targetVolume();
    const before = resetRequests();
    const job = await enqueue(src, tgt, { setMaintenance: false });
    expect(job?.payload[MAINTENANCE_PAYLOAD_KEY]).toBeUndefined();
    expect(statusOf(tgt)).toBe('available');
    expect(resetRequests()).toBe(before);
    expect(await openHoldOf(db.pool, tgt)).toBeNull();
    const claimed = await claim();
    expect(claimed.map((j) => j.id)).toEqual([job?.id]);
  });
});
