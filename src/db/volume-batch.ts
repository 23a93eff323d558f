/**
 * The `volumes` statements of the notification path's batches (0001_catalog.sql): read and
 * lock every row a batch touches in one statement, write the rows it leaves behind in one
 * statement. Kept apart from volumes.ts, whose per-row statements the one-message path and
 * the poller use.
 */
import {
  INVENTORY_COLUMNS,
  INVENTORY_FIELDS,
  INVENTORY_FROM_EXCLUDED,
  INVENTORY_RECORD,
  inventoryColumns,
} from './inventory-columns.js';
import type { Queryable } from './queryable.js';
import { fieldsFromRow, type RowOf } from './row-fields.js';
import type { InventoryVolume } from './volumes.js';

/** A whole inventory row, as the batch folds it (notifications/fold-changes.ts). */
export type VolumeRecord = Omit<InventoryVolume, 'nameId'> & {
  seenAt: Date;
  deletedAt: Date | null;
  policy: Record<string, unknown> | null;
  policyError: string | null;
};

const recordFields = fieldsFromRow<VolumeRecord>()([
  ...INVENTORY_FIELDS,
  'seenAt',
  'deletedAt',
  'policy',
  'policyError',
]);

/**
 * Reads and locks (until the caller's transaction ends) the rows of `ids` that exist. Rows
 * are locked in id order, so two controllers' batches never deadlock on each other.
 */
export async function lockVolumeRecords(
  q: Queryable,
  ids: readonly string[],
): Promise<Map<string, VolumeRecord>> {
  const out = new Map<string, VolumeRecord>();
  if (ids.length === 0) return out;
  const res = await q.query<RowOf<VolumeRecord>>(
    `SELECT ${INVENTORY_COLUMNS}, seen_at, deleted_at, policy, policy_error
       FROM volumes WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [ids],
  );
  for (const r of res.rows) out.set(r.id, recordFields(r));
  return out;
}

/**
 * Writes whole rows (inserting the new ones) in one statement. Times are never written
 * later than the database clock, so no row is pinned in the future. When a row's policy
 * changes to none, its due time and skip reason go with it (as recordPolicy does).
 */
export async function writeVolumeRecords(
  q: Queryable,
  rows: readonly VolumeRecord[],
  options: { newerOnly?: boolean } = {},
): Promise<void> {
  if (rows.length === 0) return;
  const input = rows.map((v) => ({
    ...inventoryColumns(v),
    seen_at: v.seenAt.toISOString(),
    deleted_at: v.deletedAt?.toISOString() ?? null,
    policy: v.policy,
    policy_error: v.policyError,
  }));
  await q.query(
    `INSERT INTO volumes AS v (${INVENTORY_COLUMNS}, seen_at, deleted_at, policy,
                               policy_error)
     SELECT ${INVENTORY_COLUMNS}, LEAST(seen_at, now()),
            -- LEAST skips NULLs: a live row's NULL must stay NULL.
            CASE WHEN deleted_at IS NOT NULL THEN LEAST(deleted_at, now()) END, policy,
            policy_error
       FROM jsonb_to_recordset($1::jsonb) AS r(${INVENTORY_RECORD}, seen_at timestamptz,
                                               deleted_at timestamptz, policy jsonb,
                                               policy_error text)
     ON CONFLICT (id) DO UPDATE SET ${INVENTORY_FROM_EXCLUDED},
       seen_at = GREATEST(v.seen_at, EXCLUDED.seen_at), deleted_at = EXCLUDED.deleted_at,
       policy = EXCLUDED.policy, policy_error = EXCLUDED.policy_error,
       next_due_at = CASE WHEN EXCLUDED.policy IS NULL
                           AND (v.policy IS DISTINCT FROM EXCLUDED.policy
                                OR v.policy_error IS DISTINCT FROM EXCLUDED.policy_error)
                          THEN NULL ELSE v.next_due_at END,
       skip_reason = CASE WHEN EXCLUDED.policy IS NULL
                           AND (v.policy IS DISTINCT FROM EXCLUDED.policy
                                OR v.policy_error IS DISTINCT FROM EXCLUDED.policy_error)
                          THEN NULL ELSE v.skip_reason END
     ${options.newerOnly === true ? 'WHERE v.seen_at < EXCLUDED.seen_at' : ''}`,
    [JSON.stringify(input)],
  );
}
