/**
 * A fresh, migrated database per test file: `clb_test_<random>` on the local Postgres
 * (127.0.0.1:5432, user root, trust auth). Fails with a clear message when Postgres is down.
 *
 *   const db = await freshDatabase();          // in beforeAll
 *   await db.pool.query(...);
 *   await db.drop();                           // in afterAll
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';

export interface FreshDatabase {
  /** Connection string of the new database (hand it to child processes as DATABASE_URL). */
  url: string;
  name: string;
  pool: pg.Pool;
  /** Closes the pool and drops the database (terminating leftover sessions). */
  drop(): Promise<void>;
}

const ADMIN_URL = process.env['CLB_TEST_ADMIN_URL'] ?? 'postgres://root@127.0.0.1:5432/postgres';

function urlFor(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${ADMIN_URL} (${(err as Error).message}); ` +
        'start it (scripts/ensure-services.sh) before running these tests',
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named database, migrates it (unless `migrated: false`) and opens a pool. */
export async function freshDatabase(
  options: { migrated?: boolean; prefix?: string } = {},
): Promise<FreshDatabase> {
  const name = `${options.prefix ?? 'clb_test'}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = urlFor(name);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    await pool.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  };
  if (options.migrated !== false) {
    try {
      await migrate(pool);
    } catch (err) {
      await drop();
      throw err;
    }
  }
  return { url, name, pool, drop };
}
