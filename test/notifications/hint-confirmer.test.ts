/**
 * The hint confirmer against a real Postgres and the OpenStack emulator's Cinder: a round
 * writes its answers while notification batches lock the same volumes, and neither
 * deadlocks nor waits for the other longer than a statement, because both lock volumes
 * (then hints) in id order; many hints are read from one list of the volumes Cinder changed
 * since their events, with what the list leaves out (deleted volumes) read one by one, and
 * Cinder's view is what is kept where the bus said otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { lockVolumeRecords } from '../../src/db/volume-batch.js';
import { countVolumeHints, recordVolumeHints } from '../../src/db/volume-hints.js';
import { cinderChangedVolumes } from '../../src/inventory/cinder-changed-volumes.js';
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

  it('reads many hinted volumes from one list of changed volumes, deleted ones alone', async () => {
    const credentials = await loadOpenStackCredentials({ env: emu.env() });
    if (credentials === null) throw new Error('no emulator credentials');
    const { cinder } = createOpenStackClients({ credentials });
    const made = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        emu.control.createVolume({ name: `listed-${i}`, size: 1, metadata: {} }),
      ),
    );
    await pollInventory({ pool: db.pool, cinder });
    const ids = made.map((v) => v.id);
    const [forgedOff, ...rest] = ids as [string, ...string[]];
    const gone = rest.slice(0, 2);
    // In Cinder: every volume tagged daily, two deleted. The bus says the same, except of
    // one volume, which it claims was switched off.
    for (const id of ids) await emu.control.updateVolume(id, { metadata: { backup: 'daily' } });
    for (const id of gone) await emu.control.deleteVolume(id);
    const now = Date.now();
    await recordVolumeHints(
      db.pool,
      ids.map((volumeId) => ({
        volumeId,
        eventType: gone.includes(volumeId) ? 'volume.delete.end' : 'volume.update.end',
        eventAt: new Date(now - 1000),
        claims: gone.includes(volumeId)
          ? { gone: true }
          : { metadata: { backup: volumeId === forgedOff ? 'off' : 'daily' } },
        triggers: [],
        events: 1,
        dueAt: new Date(now - 500),
      })),
    );
    const before = emu.control.requests('cinder').length;
    const confirmer = new HintConfirmer({
      pool: db.pool,
      lookup: cinderVolumeLookup(cinder),
      listChanged: cinderChangedVolumes(cinder),
      limits: DEFAULT_POLICY_LIMITS,
      ratePerSecond: 100,
    });
    expect(await confirmer.round()).toBe(24);

    const asked = emu.control.requests('cinder').slice(before);
    const lists = asked.filter((r) => r.path.endsWith('/volumes/detail'));
    expect(lists.map((r) => r.query.get('updated_at')?.startsWith('gte:'))).toEqual([true]);
    expect(lists[0]?.headers['openstack-api-version']).toBe('volume 3.60');
    const gets = asked.filter((r) => r.method === 'GET' && !r.path.endsWith('/volumes/detail'));
    expect(gets.map((r) => r.path.split('/').pop()).sort()).toEqual([...gone].sort());
    expect(confirmer.stats).toMatchObject({
      listPages: 1,
      listed: 22,
      lookups: 2,
      confirmedVolumes: 22,
      goneVolumes: 2,
      contradicted: 1,
    });
    expect(await countVolumeHints(db.pool)).toBe(0);
    const rows = await db.pool.query<{ id: string; policy: unknown; deleted_at: Date | null }>(
      'SELECT id::text AS id, policy, deleted_at FROM volumes WHERE id = ANY($1::uuid[])',
      [ids],
    );
    for (const r of rows.rows) {
      if (gone.includes(r.id)) expect(r.deleted_at).not.toBeNull();
      // Cinder's word: tagged daily, the forged "off" included.
      else expect([r.id, r.policy !== null, r.deleted_at]).toEqual([r.id, true, null]);
    }
  });
});
