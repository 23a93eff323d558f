/**
 * The Postgres connection pool, for the database of `[database] connection` (DATABASE_URL);
 * connection failures become DB_UNAVAILABLE so callers can retry them.
 */
import pg from 'pg';
import { AppError, toAppError } from '../errors.js';
import type { Queryable } from './queryable.js';

export interface PoolOptions {
  /** Connection string (`[database] connection`). */
  url: string;
  /** Most connections the pool opens (default 5: agents and CLIs need few). */
  max?: number;
  /** Shown in pg_stat_activity, to tell the agents and the controller apart. */
  applicationName?: string;
  /**
   * How long an unused connection stays open (default 10 s, pg's own). A daemon that
   * queries periodically passes more than its period, so each query does not open a new
   * connection (a TCP and TLS handshake, and a point where a slow network fails it).
   */
  idleSeconds?: number;
}

/** Opens a pool; nothing connects until the first query. */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 5,
    application_name: options.applicationName ?? 'cinder-lvm-backup',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: (options.idleSeconds ?? 10) * 1000,
    // Dead peers of idle connections are noticed (and the connection dropped) by the OS.
    keepAlive: true,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The next query gets a fresh connection instead.
  pool.on('error', () => undefined);
  return pool;
}

/** Checks the database answers; throws DB_UNAVAILABLE (with the cause) when it does not. */
export async function ping(q: Queryable): Promise<void> {
  try {
    await q.query('SELECT 1');
  } catch (err) {
    throw new AppError(
      'DB_UNAVAILABLE',
      `PostgreSQL cannot be reached: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Runs `fn` inside one transaction on a client of `pool`: COMMIT when it resolves,
 * ROLLBACK when it throws.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return withClient(pool, async (client) => {
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/**
 * Runs `fn` with a client checked out of `pool`, and gives it back (or destroys it when its
 * connection broke). While a client is checked out the pool does not listen for its
 * errors: a connection the server ends between two statements (pg_terminate_backend, a
 * restart) emits 'error' on the client with nobody listening, and that ends the process.
 * Seen in test/reliability/postgres-faults.test.ts: the controller died at the first sweep.
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    // A failure that leaves the connection unusable (the next query would also fail).
    if (toAppError(err).code === 'DB_UNAVAILABLE') broken ??= err as Error;
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
