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
