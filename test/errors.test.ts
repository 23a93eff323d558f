/**
 * isRetryable and toAppError on real PostgreSQL failures: the transient ones (a terminated
 * connection, a serialization failure between two serializable transactions, a refused
 * connection) get a retryable code; an error in the statement itself stays permanent.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, isRetryable, toAppError } from '../src/errors.js';
import { freshDatabase, type FreshDatabase } from './db/fresh-database.js';

let db: FreshDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});

afterAll(async () => {
  await db.drop();
});

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

describe('retryable database failures', () => {
  it('a statement error (division by zero) is permanent', async () => {
    const err = await failureOf(db.pool.query('SELECT 1 / 0'));
    expect((err as { code?: string }).code).toBe('22012');
    expect(isRetryable(err)).toBe(false);
    expect(toAppError(err).code).toBe('INTERNAL');
  });

  it('a connection terminated by the server mid-statement is DB_UNAVAILABLE', async () => {
    const victim = new pg.Client({ connectionString: db.url });
    victim.on('error', () => undefined);
    await victim.connect();
    const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
      ?.pid;
    const running = failureOf(victim.query('SELECT pg_sleep(30)'));
    await new Promise((r) => setTimeout(r, 200));
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await running;
    await victim.end().catch(() => undefined);
    expect(isRetryable(err)).toBe(true);
    const e = toAppError(err);
    expect(e).toMatchObject({ code: 'DB_UNAVAILABLE', retryable: true });
    expect(e.cause).toBe(err);
  });

  it('a serialization failure (40001) between two transactions is DB_CONFLICT', async () => {
    await db.pool.query('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)');
    await db.pool.query('INSERT INTO counters VALUES (1, 0)');
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    try {
      await a.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await b.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await a.query('SELECT n FROM counters WHERE id = 1');
      await b.query('SELECT n FROM counters WHERE id = 1');
      await a.query('UPDATE counters SET n = n + 1 WHERE id = 1');
      const second = failureOf(b.query('UPDATE counters SET n = n + 1 WHERE id = 1'));
      await a.query('COMMIT');
      const err = await second;
      expect((err as { code?: string }).code).toBe('40001');
      expect(isRetryable(err)).toBe(true);
      expect(toAppError(err).code).toBe('DB_CONFLICT');
    } finally {
      await b.query('ROLLBACK').catch(() => undefined);
      a.release();
      b.release();
    }
  });

  it('a refused connection is retryable, also when wrapped as a cause', async () => {
    const dead = new pg.Client({ connectionString: 'postgres://root@127.0.0.1:1/none' });
    const err = await failureOf(dead.connect());
    expect(isRetryable(err)).toBe(true);
    expect(toAppError(err).code).toBe('CONNECTION_LOST');
    const wrapped = new Error('while claiming', { cause: err });
    expect(isRetryable(wrapped)).toBe(true);
  });

  it('a database closed to new sessions (ALLOW_CONNECTIONS false) is DB_UNAVAILABLE', async () => {
    const closed = await freshDatabase({ migrated: false });
    try {
      await db.pool.query(`ALTER DATABASE ${closed.name} ALLOW_CONNECTIONS false`);
      const refused = new pg.Client({ connectionString: closed.url });
      refused.on('error', () => undefined);
      const err = await failureOf(refused.connect());
      expect(err).toMatchObject({ code: '55000', severity: 'FATAL' });
      expect(toAppError(err)).toMatchObject({ code: 'DB_UNAVAILABLE', retryable: true });
      await db.pool.query(`ALTER DATABASE ${closed.name} ALLOW_CONNECTIONS true`);
    } finally {
      await closed.drop();
    }
    // A 55000 answer to a statement (not to a new session) stays permanent.
    await db.pool.query('CREATE SEQUENCE never_used');
    const err = await failureOf(db.pool.query(`SELECT currval('never_used')`));
    expect(err).toMatchObject({ code: '55000', severity: 'ERROR' });
    expect(isRetryable(err)).toBe(false);
  });

  it('an AppError decides for itself, whatever its cause', () => {
    const cause = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    expect(isRetryable(new AppError('LV_NOT_FOUND', 'gone', { cause }))).toBe(false);
    expect(isRetryable(new AppError('DEST_FULL', 'full'))).toBe(true);
    expect(isRetryable(new Error('plain'))).toBe(false);
  });
});
