/**
 * Notifications are hints (issue 10, point 1), against the real RabbitMQ and Postgres and the
 * OpenStack emulator's Cinder: the consumer batches as the controller runs it, with its
 * Cinder lookup, and the hint confirmer settles what the bus claims by reading the volume.
 * A forged update that switches another project's backups off changes nothing; the same
 * change made in Cinder applies after one read; what does not steer backups applies at once
 * without a read; a backup that a detach triggers waits for Cinder; a forged delete
 * deletes nothing, a real one is confirmed by a 404.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { countVolumeHints } from '../../src/db/volume-hints.js';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { pollInventory } from '../../src/inventory/poller.js';
import type { NotificationConsumer } from '../../src/notifications/consumer.js';
import { HintConfirmer } from '../../src/notifications/hint-confirmer.js';
import { createOpenStackClients } from '../../src/openstack/clients.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { batchConsumer, busNames, waitForValue } from './bus-consumer.js';
import { deleteTopology, TestPublisher, volumeEvent } from './notification-builder.js';

const names = busNames('hints');
const { exchange, queue, deadLetterQueue } = names;
const HINT_DELAY_MS = 300;

let db: FreshDatabase;
let emu: OpenStackEmulator;
let forger: TestPublisher;
let consumer: NotificationConsumer;
let confirmer: HintConfirmer;

const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>) =>
  waitForValue(what, fn, 20_000);

async function row(id: string) {
  const r = await db.pool.query<{
    metadata: Record<string, string>;
    status: string;
    name: string | null;
    project_id: string;
    policy: unknown;
    deleted_at: Date | null;
  }>('SELECT metadata, status, name, project_id, policy, deleted_at FROM volumes WHERE id = $1', [
    id,
  ]);
  return r.rows[0];
}

async function outcome(messageId: string): Promise<string | null> {
  const r = await db.pool.query<{ outcome: string }>(
    'SELECT outcome FROM processed_notifications WHERE message_id = $1',
    [messageId],
  );
  return r.rows[0]?.outcome ?? null;
}

async function hintFor(id: string): Promise<boolean> {
  const r = await db.pool.query('SELECT 1 FROM volume_hints WHERE volume_id = $1', [id]);
  return r.rowCount === 1;
}

/** Cinder reads of one volume so far (GET /volumes/{id}). */
function reads(id: string): number {
  return emu.control
    .requests('cinder')
    .filter((r) => r.method === 'GET' && r.path.endsWith(`/volumes/${id}`)).length;
}

/** Ledger rows of a volume's messages by event type, once all of `types` are in. */
async function processedTypes(id: string, types: string[]): Promise<Map<string, string>> {
  return waitFor(`${types.join(', ')} of ${id} processed`, async () => {
    const r = await db.pool.query<{ event_type: string; outcome: string }>(
      'SELECT event_type, outcome FROM processed_notifications WHERE volume_id = $1',
      [id],
    );
    const m = new Map(r.rows.map((x) => [x.event_type, x.outcome]));
    return types.every((t) => m.has(t)) ? m : null;
  });
}

/** A volume in Cinder that the inventory holds (created, then confirmed from the API). */
async function tagged(metadata: Record<string, string>): Promise<string> {
  const v = await emu.control.createVolume({
    name: `vol-${randomUUID().slice(0, 8)}`,
    size: 10,
    metadata,
    projectId: emu.credentials.demo.projectId,
  });
  await waitFor('the created volume confirmed', async () => {
    const r = await row(v.id);
    return r !== undefined && r.status === 'available' && !(await hintFor(v.id));
  });
  return v.id;
}

beforeAll(async () => {
  db = await freshDatabase();
  emu = await startOpenStackEmulator({
    notifier: { exchange, declareDefaultQueue: false },
    createDelayMs: 0,
  });
  const credentials = await loadOpenStackCredentials({ env: emu.env() });
  if (credentials === null) throw new Error('no emulator credentials');
  const { cinder } = createOpenStackClients({ credentials });
  const lookup = cinderVolumeLookup(cinder);
  // A volume that exists before the service starts: the poll brings it in.
  await pollInventory({ pool: db.pool, cinder });
  confirmer = new HintConfirmer({
    pool: db.pool,
    lookup,
    limits: DEFAULT_POLICY_LIMITS,
    intervalMs: 100,
    ratePerSecond: 50,
  });
  confirmer.start();
  consumer = batchConsumer(db, names, {
    routingKeys: ['notifications.info', 'notifications.error'],
    prefetch: 32,
    batchSize: 16,
    batch: { lookup, confirmSteering: true, hintDelayMs: HINT_DELAY_MS },
  });
  await consumer.start();
  forger = await TestPublisher.open(exchange);
});

afterAll(async () => {
  await consumer?.stop();
  await confirmer?.stop();
  await forger?.close();
  await emu?.close();
  await deleteTopology(exchange, [queue, deadLetterQueue]);
  await db?.drop();
});

describe('notifications are hints', () => {
  it('a forged update switching another project’s backups off changes nothing', async () => {
    const id = await tagged({ backup: 'daily' });
    const before = await row(id);
    expect(before?.policy).not.toBeNull();
    const readsBefore = reads(id);
    const forged = volumeEvent({
      eventType: 'volume.update.end',
      volumeId: id,
      at: new Date(),
      status: 'available',
      metadata: { backup: 'off' },
      name: before?.name ?? undefined,
    });
    // Published as a stock Cinder would: no user_id, so only the lookup can tell.
    await forger.publish([forged.body]);
    await waitFor(
      'the forged update recorded',
      async () => (await outcome(forged.messageId)) === 'hinted',
    );
    await waitFor('its hint settled', async () => !(await hintFor(id)));
    expect(reads(id)).toBe(readsBefore + 1);
    const after = await row(id);
    expect(after?.metadata).toEqual({ backup: 'daily' });
    expect(after?.policy).toEqual(before?.policy);
    expect(confirmer.stats.contradicted).toBeGreaterThan(0);
  });

  it('the same change made in Cinder applies within one lookup', async () => {
    const id = await tagged({ backup: 'daily' });
    const readsBefore = reads(id);
    await emu.control.updateVolume(id, { metadata: { backup: 'off' } });
    const types = await processedTypes(id, ['volume.update.start', 'volume.update.end']);
    expect(types.get('volume.update.end')).toBe('hinted');
    await waitFor(
      'the update confirmed',
      async () => (await row(id))?.metadata['backup'] === 'off',
    );
    await waitFor('its hint settled', async () => !(await hintFor(id)));
    // update.start and update.end made one hint, settled by one read.
    expect(reads(id)).toBe(readsBefore + 1);
    expect((await row(id))?.policy).toBeNull();
  });

  it('applies what does not steer backups at once, without a lookup', async () => {
    const id = await tagged({ backup: 'daily' });
    const readsBefore = reads(id);
    await emu.control.updateVolume(id, { name: 'renamed-by-user' });
    const types = await processedTypes(id, ['volume.update.start', 'volume.update.end']);
    expect(types.get('volume.update.end')).toBe('applied');
    expect((await row(id))?.name).toBe('renamed-by-user');
    await new Promise((r) => setTimeout(r, HINT_DELAY_MS + 500));
    expect(await hintFor(id)).toBe(false);
    expect(reads(id)).toBe(readsBefore);
  });

  it('a detach triggers its backup only once Cinder confirms the volume', async () => {
    const id = await tagged({ backup: 'daily', 'backup:on': 'detach' });
    const server = randomUUID();
    await emu.control.attachVolume(id, server, { hostName: 'compute1' });
    await waitFor('attach confirmed', async () => (await row(id))?.status === 'in-use');
    await emu.control.detachVolume(id, server);
    const types = await processedTypes(id, ['volume.detach.end']);
    expect(types.get('volume.detach.end')).toBe('hinted');
    const job = await waitFor('the detach backup', async () => {
      const r = await db.pool.query<{ reason: string }>(
        `SELECT reason FROM jobs WHERE volume_id = $1 AND kind = 'backup'`,
        [id],
      );
      return r.rows[0];
    });
    expect(job.reason).toBe('event:volume.detach.end');
    expect((await row(id))?.status).toBe('available');
  });

  it('a detach of a volume whose creation Cinder has not confirmed yet still triggers its backup', async () => {
    // Created, attached and detached before the confirmer reads the volume (its hint delay
    // has not passed): the inventory has no row yet when the detach arrives.
    const v = await emu.control.createVolume({
      name: `vol-${randomUUID().slice(0, 8)}`,
      size: 10,
      metadata: { backup: 'daily', 'backup:on': 'detach' },
      projectId: emu.credentials.demo.projectId,
    });
    await emu.control.settle();
    const server = randomUUID();
    await emu.control.attachVolume(v.id, server, { hostName: 'compute1' });
    await emu.control.detachVolume(v.id, server);
    const types = await processedTypes(v.id, ['volume.detach.end']);
    expect(types.get('volume.detach.end')).toBe('hinted');
    const job = await waitFor('the detach backup', async () => {
      const r = await db.pool.query<{ reason: string }>(
        `SELECT reason FROM jobs WHERE volume_id = $1 AND kind = 'backup'`,
        [v.id],
      );
      return r.rows[0];
    });
    expect(job.reason).toBe('event:volume.detach.end');
  });

  it('a retype is settled by Cinder: the LV name of a migrated volume follows its name_id', async () => {
    const id = await tagged({ backup: 'daily' });
    const moved = emu.control.migrateVolume(id, 'stor2@lvm#LVM');
    await emu.control.retypeVolume(id, 'lvmdriver-1');
    const types = await processedTypes(id, ['volume.retype']);
    expect(types.get('volume.retype')).toBe('hinted');
    await waitFor('the new LV name', async () => {
      const r = await db.pool.query<{ lv_name: string; host: string }>(
        'SELECT lv_name, host FROM volumes WHERE id = $1',
        [id],
      );
      return r.rows[0]?.lv_name === `volume-${moved.nameId}` && r.rows[0]?.host === 'stor2@lvm#LVM';
    });
  });

  it('a forged delete deletes nothing; a real one is confirmed by a 404', async () => {
    const id = await tagged({ backup: 'daily' });
    const forged = volumeEvent({ eventType: 'volume.delete.end', volumeId: id, at: new Date() });
    await forger.publish([forged.body]);
    await waitFor(
      'the forged delete recorded',
      async () => (await outcome(forged.messageId)) === 'hinted',
    );
    await waitFor('its hint settled', async () => !(await hintFor(id)));
    expect((await row(id))?.deleted_at).toBeNull();

    await emu.control.deleteVolume(id);
    await waitFor('the delete confirmed', async () => (await row(id))?.deleted_at != null);
    expect((await row(id))?.status).toBe('deleted');
    expect(await countVolumeHints(db.pool)).toBe(0);
  });
});
