/**
 * The bound on hints of volumes the inventory does not hold ([notifications]
 * max_unknown_hints), against a real Postgres: forged events with made-up volume ids fill
 * it and are dropped past it, while events of inventory volumes and of volumes already
 * hinted are still recorded; a hint settled by its Cinder read makes room again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimDueHints,
  countUnknownHints,
  countVolumeHints,
  recordVolumeHints,
  settleHint,
  type VolumeHint,
} from '../../src/db/volume-hints.js';
import { processBatch } from '../../src/notifications/process-batch.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { addVolume } from '../db/volume-fixtures.js';
import { volumeEvent } from './notification-builder.js';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const hint = (volumeId: string): VolumeHint => ({
  volumeId,
  eventType: 'volume.update.end',
  eventAt: new Date(),
  claims: { metadata: { backup: 'off' } },
  triggers: [],
  events: 1,
  dueAt: new Date(Date.now() + 3_600_000),
});

describe('hints of unknown volumes', () => {
  it('are dropped past the bound; inventory volumes and waiting hints are still recorded', async () => {
    await db.pool.query('DELETE FROM volume_hints');
    const known = await addVolume(db.pool, 'node1@lvm');
    const forged = Array.from({ length: 5 }, () => randomUUID());
    const dropped = await recordVolumeHints(db.pool, forged.map(hint), { maxUnknown: 3 });
    expect(dropped).toEqual(forged.slice(3));
    expect(await countUnknownHints(db.pool)).toBe(3);

    // At the bound: an inventory volume's hint and a repeat of a waiting one still count.
    const more = [known.id, forged[0] ?? '', randomUUID()];
    expect(await recordVolumeHints(db.pool, more.map(hint), { maxUnknown: 3 })).toEqual([more[2]]);
    const repeat = await db.pool.query<{ events: number }>(
      'SELECT events FROM volume_hints WHERE volume_id = $1',
      [forged[0]],
    );
    expect(repeat.rows[0]?.events).toBe(2);
    expect(await countVolumeHints(db.pool)).toBe(4);

    // Cinder says one forged id does not exist: its hint is settled, and there is room.
    await db.pool.query(`UPDATE volume_hints SET next_try_at = now() WHERE volume_id = $1`, [
      forged[1],
    ]);
    const [claimed] = await claimDueHints(db.pool, 1, 60);
    expect(claimed?.volumeId).toBe(forged[1]);
    expect(await settleHint(db.pool, claimed!)).toBe(true);
    const next = randomUUID();
    expect(await recordVolumeHints(db.pool, [hint(next)], { maxUnknown: 3 })).toEqual([]);
    expect(await countUnknownHints(db.pool)).toBe(3);
    // Without a bound nothing is dropped.
    expect(await recordVolumeHints(db.pool, [hint(randomUUID())])).toEqual([]);
  });

  it('bound a flood of forged notifications through the consumer path', async () => {
    await db.pool.query('DELETE FROM volume_hints');
    const dropped: string[] = [];
    const items = Array.from({ length: 40 }, () => ({
      body: volumeEvent({
        eventType: 'volume.update.end',
        volumeId: randomUUID(),
        at: new Date(Date.now() - 1000),
        metadata: { backup: 'off' },
      }).body,
      meta: { userId: null },
    }));
    const ds = await processBatch(items, {
      pool: db.pool,
      limits: DEFAULT_POLICY_LIMITS,
      confirmSteering: true,
      maxUnknownHints: 25,
      onHintsDropped: (ids) => dropped.push(...ids),
    });
    expect(ds.every((d) => d.action === 'ack')).toBe(true);
    expect(await countUnknownHints(db.pool)).toBe(25);
    expect(dropped).toHaveLength(15);
  });
});
