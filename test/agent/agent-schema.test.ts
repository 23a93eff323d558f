import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startAgent } from './agent-process.js';

let db: FreshDatabase;
let work: string;
beforeAll(async () => {
  db = await freshDatabase();
  work = await mkdtemp(path.join(tmpdir(), 'clb-schema-'));
});
afterAll(async () => {
  await db?.drop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('the agent and the schema', () => {
  it('refuses to run against a schema newer than its code', { timeout: 30_000 }, async () => {
    await db.pool.query(
      `INSERT INTO schema_migrations (number, name, checksum) VALUES (9999, '9999_future.sql', 'x')`,
    );
    const agent = await startAgent({
      databaseUrl: db.url,
      hosts: ['schema@lvm'],
      dest: path.join(work, 'dest'),
      runDir: path.join(work, 'run'),
    });
    expect(await agent.exited).toBe(1);
    expect(agent.stderr()).toContain('SCHEMA_TOO_NEW');
    const events = await db.pool.query('SELECT 1 FROM events');
    expect(events.rowCount).toBe(0);
  });
});
