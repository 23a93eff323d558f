/**
 * The hint confirmer against a real Postgres and the OpenStack emulator's Cinder: a round
 * writes its answers while notification batches lock the same volumes, and neither
 * deadlocks nor waits for the other longer than a statement, because both lock volumes
 * (then hints) in id order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { lockVolumeRecords } from '../../src/db/volume-batch.js';
import { countVolumeHints, recordVolumeHints } from '../../src/db/volume-hints.js';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { pollInventory } from '../../src/inventory/poller.js';
import { HintConfirmer } from '../../src/notifications/hint-confirmer.js';
import { createOpenStackClients } from '../../src/openstack/clients.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { waitForValue } from './bus-consumer.js';

let db: FreshDatabase;
let emu: OpenStackEmulator;

beforeAll(async () => {
  db = await freshDatabase();
  emu = await startOpenStackEmulator({ createDelayMs: 0 });
});

afterAll(async () => {
  await emu?.close();
  await db?.drop();
});

describe('the hint confirmer', () => {
  it('settles a round while a batch locks the same volumes, without a deadlock', async () => {
    const credentials = await loadOpenStackCredentials({ env: emu.env() });
    if (credentials === null) throw new Error('no emulator credentials');
    const { cinder } = createOpenStackClients({ credentials });
    const made = await Promise.all(
      ['a', 'b'].map((n) => emu.control.createVolume({ name: `vol-${n}`, size: 1, metadata: {} })),
    );
    await pollInventory({ pool: db.pool, cinder });
    const [lo, hi] = made.map((v) => v.id).sort() as [string, string];
    // Cinder now says both are tagged; the bus said so too. The higher id is due first, so
    // the round takes it first.
    for (const id of [lo, hi])
      await emu.control.updateVolume(id, { metadata: { backup: 'daily' } });
    const now = Date.now();
    await recordVolumeHints(
      db.pool,
      [hi, lo].map((volumeId, i) => ({
        volumeId,
        eventType: 'volume.update.end',
        eventAt: new Date(now - 5000),
        claims: { metadata: { backup: 'daily' } },
        triggers: [],
        events: 1,
        dueAt: new Date(now - 3000 + i * 1000),
      })),
    );

    // A batch has locked the lower id and is about to lock the higher one.
    const batch = await db.pool.connect();
    try {
      await batch.query('BEGIN');
      await lockVolumeRecords(batch, [lo]);
      const confirmer = new HintConfirmer({
        pool: db.pool,
        lookup: cinderVolumeLookup(cinder),
        limits: DEFAULT_POLICY_LIMITS,
        ratePerSecond: 100,
      });
      const round = confirmer.round();
      // The round's write waits for the batch's lock...
      await waitForValue(
        'the round waiting for the batch',
        async () => {
          const r = await db.pool.query(
            `SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return (r.rowCount ?? 0) > 0;
        },
        10_000,
      );
      // ...and holds nothing the batch needs next: the batch locks the higher id at once.
      const t = Date.now();
      const locked = await lockVolumeRecords(batch, [hi]);
      expect(locked.has(hi)).toBe(true);
      expect(Date.now() - t).toBeLessThan(500);
      await batch.query('COMMIT');
      expect(await round).toBe(2);
      expect(confirmer.stats).toMatchObject({ confirmedVolumes: 2, contradicted: 0 });
    } finally {
      batch.release();
    }
    expect(await countVolumeHints(db.pool)).toBe(0);
    const rows = await db.pool.query<{ id: string; policy: unknown }>(
      'SELECT id::text AS id, policy FROM volumes WHERE id = ANY($1::uuid[]) ORDER BY id',
      [[lo, hi]],
    );
    expect(rows.rows.map((r) => r.policy !== null)).toEqual([true, true]);
  });
});
