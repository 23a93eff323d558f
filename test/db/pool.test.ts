import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** The server process behind the pool's next query: a new one means a new connection. */
async function backendPid(pool: ReturnType<typeof createPool>): Promise<number> {
  const r = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return r.rows[0]?.pid ?? -1;
}

describe('createPool', () => {
  it('keeps an unused connection open for idleSeconds, and closes it after', async () => {
    const kept = createPool({ url: db.url, max: 1, idleSeconds: 4 });
    const dropped = createPool({ url: db.url, max: 1, idleSeconds: 1 });
    try {
      const [keptFirst, droppedFirst] = [await backendPid(kept), await backendPid(dropped)];
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await backendPid(kept)).toBe(keptFirst);
      expect(await backendPid(dropped)).not.toBe(droppedFirst);
    } finally {
      await kept.end();
      await dropped.end();
    }
  });
});
