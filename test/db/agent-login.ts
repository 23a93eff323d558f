/**
 * A real login role for a storage-node agent in a test database: member of `clb_agent`
 * (migration 0005), mapped to the given backend hosts in `agent_hosts`. Roles belong to the
 * whole Postgres cluster, so each gets a random name and is dropped after its database.
 *
 *   const login = await createAgentLogin(db, ['node1@lvm']);
 *   new pg.Pool({ connectionString: login.url });   // connects as that role
 *   await db.drop(); await login.drop();
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FreshDatabase } from './fresh-database.js';

export interface AgentLogin {
  role: string;
  /** The database's URL with this role as the user (trust auth on 127.0.0.1). */
  url: string;
  /** Drops the role; call after the database is dropped (or its mapping rows removed). */
  drop(): Promise<void>;
}

/** Creates a login role in `group` (default clb_agent) mapped to `hosts`. */
export async function createAgentLogin(
  db: FreshDatabase,
  hosts: readonly string[],
  group = 'clb_agent',
): Promise<AgentLogin> {
  const role = `clb_test_login_${randomBytes(5).toString('hex')}`;
  await db.pool.query(`CREATE ROLE ${role} LOGIN IN ROLE ${group}`);
  for (const h of hosts) {
    await db.pool.query('INSERT INTO agent_hosts (role_name, backend_host) VALUES ($1, $2)', [
      role,
      h,
    ]);
  }
  const u = new URL(db.url);
  u.username = role;
  const adminUrl = db.url;
  return {
    role,
    url: u.toString(),
    async drop() {
      const u2 = new URL(adminUrl);
      u2.pathname = '/postgres';
      const c = new pg.Client({ connectionString: u2.toString() });
      await c.connect();
      try {
        await c.query(`DROP ROLE IF EXISTS ${role}`);
      } finally {
        await c.end();
      }
    },
  };
}
