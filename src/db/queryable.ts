/**
 * What every query function takes first: a pool or a checked-out client, so callers can
 * compose several statements inside one transaction.
 */
import type { QueryResult, QueryResultRow } from 'pg';

/** The one method the query modules need from `pg.Pool` and `pg.PoolClient`. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResult<R>>;
}

/**
 * Runs a statement that yields at most one row and maps that row to its domain type: null
 * when the statement yields none.
 */
export async function queryOne<R extends QueryResultRow, T>(
  q: Queryable,
  text: string,
  values: unknown[],
  fromRow: (row: R) => T,
): Promise<T | null> {
  const res = await q.query<R>(text, values);
  const row = res.rows[0];
  return row === undefined ? null : fromRow(row);
}
