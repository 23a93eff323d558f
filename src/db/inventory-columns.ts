/**
 * The columns of `volumes` (0001_catalog.sql) that hold Cinder's view of a volume: every
 * statement that reads or writes that view whole (the poller's upsert, the API refresh, the
 * notification batches) names them from here, so none can leave one out.
 */
import { columnList, columnName } from './row-fields.js';
import type { InventoryVolume } from './volumes.js';

/** Each field with its column's type, in table order. */
const INVENTORY_TYPES = {
  id: 'uuid',
  name: 'text',
  projectId: 'text',
  status: 'text',
  sizeGb: 'integer',
  host: 'text',
  backendHost: 'text',
  lvName: 'text',
  metadata: 'jsonb',
  attachments: 'jsonb',
  bootable: 'boolean',
  volumeType: 'text',
  cinderUpdatedAt: 'timestamptz',
} as const satisfies Record<keyof Omit<InventoryVolume, 'nameId'>, string>;

/** The fields, in table order. */
export const INVENTORY_FIELDS = Object.keys(INVENTORY_TYPES) as (keyof typeof INVENTORY_TYPES)[];

/** `id, name, project_id, …`: a select or insert list. */
export const INVENTORY_COLUMNS = columnList(INVENTORY_FIELDS);

/** `id uuid, name text, …`: the column definitions of a `jsonb_to_recordset` row. */
export const INVENTORY_RECORD = INVENTORY_FIELDS.map(
  (f) => `${columnName(f)} ${INVENTORY_TYPES[f]}`,
).join(', ');

/** `name = EXCLUDED.name, …`: an upsert's refresh of every column but the key. */
export const INVENTORY_FROM_EXCLUDED = INVENTORY_FIELDS.filter((f) => f !== 'id')
  .map((f) => `${columnName(f)} = EXCLUDED.${columnName(f)}`)
  .join(', ');

/** A volume's inventory columns as the JSON rows a batch write reads (jsonb_to_recordset). */
export function inventoryColumns(v: Omit<InventoryVolume, 'nameId'>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of INVENTORY_FIELDS) out[columnName(f)] = v[f];
  out['cinder_updated_at'] = v.cinderUpdatedAt?.toISOString() ?? null;
  return out;
}
