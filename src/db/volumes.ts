/**
 * Every statement on the `volumes` table (the inventory the controller keeps from Cinder):
 * the poller's bulk writes, the notification path's per-volume writes, the scheduler's
 * reads and its policy and due-time records.
 *
 * `seen_at` is the time of the newest view a row reflects (a poll page's fetch time or an
 * event's time): a poll row never overwrites a row that an event updated after the page was
 * fetched, an event at or before it is stale, and only rows no view has touched since a
 * poll began count as gone from Cinder.
 */
import type { PolicyResult } from '../policy/policy.js';
import {
  INVENTORY_COLUMNS,
  INVENTORY_FROM_EXCLUDED,
  INVENTORY_RECORD,
  inventoryColumns,
} from './inventory-columns.js';
import { queryOne, type Queryable } from './queryable.js';
import { columnList, fieldsFromRow, type RowOf } from './row-fields.js';

export interface Volume {
  id: string;
  name: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  host: string | null;
  backendHost: string | null;
  lvName: string;
  metadata: Record<string, string>;
  policy: Record<string, unknown> | null;
  policyError: string | null;
  /** Why the volume's project gets no new backups (its quota), or null. */
  quotaError: string | null;
  nextDueAt: Date | null;
  deletedAt: Date | null;
  /** Since when it has had no policy (untagged or off) while holding backups, or null. */
  policyOffAt: Date | null;
  /** Deleted or off: when its grace ends and its backups are pruned, or null. */
  orphanPruneAt: Date | null;
  /** The instance the controller last resolved for SSH consistency steps, or null. */
  instance: VolumeInstance | null;
}

/** What every whole-volume read starts with: the volume as Cinder names and places it. */
const VOLUME_CORE_FIELDS = [
  'id',
  'name',
  'projectId',
  'status',
  'sizeGb',
  'host',
  'backendHost',
  'lvName',
] as const;

/** The stored instance is checked (volumeInstanceOf) on the way out. */
type VolumeRow = RowOf<Omit<Volume, 'instance'>> & { instance: unknown };

const volumeFields = fieldsFromRow<Volume>()([
  ...VOLUME_CORE_FIELDS,
  'metadata',
  'policy',
  'policyError',
  'quotaError',
  'nextDueAt',
  'deletedAt',
  'policyOffAt',
  'orphanPruneAt',
]);

function volumeFromRow(r: VolumeRow): Volume {
  return { ...volumeFields(r), instance: volumeInstanceOf(r.instance) };
}

/** Reads one volume of the inventory. */
export async function getVolume(q: Queryable, id: string): Promise<Volume | null> {
  return queryOne(q, 'SELECT * FROM volumes WHERE id = $1', [id], volumeFromRow);
}

/** `host@backend#pool` → `host@backend`: what agents claim by. */
export function backendHostOf(host: string | null): string | null {
  if (host === null) return null;
  const hash = host.indexOf('#');
  return hash < 0 ? host : host.slice(0, hash);
}

/** One attachment as the inventory keeps it (volumes.attachments). */
export interface InventoryAttachment {
  server_id: string;
  attachment_id: string;
  device?: string;
  host_name?: string;
}

/**
 * A volume as the Cinder API shows it to an admin, reduced to what the inventory keeps
 * (src/inventory/volume-from-cinder.ts maps an API answer to it).
 */
export interface InventoryVolume {
  id: string;
  name: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  host: string | null;
  backendHost: string | null;
  nameId: string | null;
  lvName: string;
  metadata: Record<string, string>;
  attachments: InventoryAttachment[];
  bootable: boolean;
  volumeType: string | null;
  cinderUpdatedAt: Date | null;
}

// ---- the poller's writes -------------------------------------------------------------

/** A volume row of one fetched page. */
export interface PolledVolume {
  volume: InventoryVolume;
  /** When the page holding it was requested. */
  seenAt: Date;
}

/** What the upsert did to one row. */
export interface UpsertOutcome {
  id: string;
  inserted: boolean;
  /** An existing row whose Cinder-side state changed (or that came back from deleted). */
  changed: boolean;
}

/** Rows per statement: keeps each statement's JSON parameter a few MiB at most. */
const CHUNK = 1000;

interface CurrentRow {
  id: string;
  name: string | null;
  status: string;
  size_gb: number;
  host: string | null;
  lv_name: string;
  metadata: unknown;
  attachments: unknown;
  bootable: boolean;
  volume_type: string | null;
  deleted_at: Date | null;
}

/** JSON with object keys sorted: jsonb ignores key order, so the comparison must too. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Whether the Cinder-side state of a row differs from what the poll saw. Pure. */
function rowDiffers(cur: CurrentRow, v: InventoryVolume): boolean {
  return (
    cur.deleted_at !== null ||
    cur.name !== v.name ||
    cur.status !== v.status ||
    cur.size_gb !== v.sizeGb ||
    cur.host !== v.host ||
    cur.lv_name !== v.lvName ||
    cur.bootable !== v.bootable ||
    cur.volume_type !== v.volumeType ||
    canonical(cur.metadata) !== canonical(v.metadata) ||
    canonical(cur.attachments) !== canonical(v.attachments)
  );
}

/**
 * Inserts or refreshes polled volumes (in chunks, inside the caller's transaction); returns
 * the rows it wrote. Rows an event touched after the page was fetched are left alone.
 */
export async function upsertPolledVolumes(
  q: Queryable,
  rows: PolledVolume[],
): Promise<UpsertOutcome[]> {
  const out: UpsertOutcome[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    out.push(...(await upsertChunk(q, rows.slice(i, i + CHUNK))));
  }
  return out;
}

async function upsertChunk(q: Queryable, rows: PolledVolume[]): Promise<UpsertOutcome[]> {
  if (rows.length === 0) return [];
  // Read the current rows first: comparing in one statement (CTE join of old and new rows)
  // planned as a nested loop and took 111 s for 20,000 volumes; this stays linear.
  const current = await q.query<CurrentRow>(
    `SELECT id::text AS id, name, status, size_gb, host, lv_name, metadata, attachments,
            bootable, volume_type, deleted_at
       FROM volumes WHERE id = ANY($1::uuid[])`,
    [rows.map((r) => r.volume.id)],
  );
  const byId = new Map(current.rows.map((r) => [r.id, r]));
  const input = rows.map(({ volume: v, seenAt }) => ({
    ...inventoryColumns(v),
    seen_at: seenAt.toISOString(),
  }));
  const written = await q.query<{ id: string }>(
    `INSERT INTO volumes AS v (${INVENTORY_COLUMNS}, seen_at, deleted_at)
     SELECT ${INVENTORY_COLUMNS}, seen_at, NULL
       FROM jsonb_to_recordset($1::jsonb) AS r(${INVENTORY_RECORD}, seen_at timestamptz)
     ON CONFLICT (id) DO UPDATE SET ${INVENTORY_FROM_EXCLUDED},
       seen_at = EXCLUDED.seen_at, deleted_at = NULL
     -- A seen_at in the future can only be a pin (an event dated ahead, before events were
     -- clamped to the clock): the poll replaces it rather than deferring to it forever.
     WHERE v.seen_at <= EXCLUDED.seen_at OR v.seen_at > now()
     RETURNING v.id::text AS id`,
    [JSON.stringify(input)],
  );
  const vols = new Map(rows.map((r) => [r.volume.id, r.volume]));
  return written.rows.map(({ id }) => {
    const cur = byId.get(id);
    const v = vols.get(id) as InventoryVolume;
    return { id, inserted: cur === undefined, changed: cur !== undefined && rowDiffers(cur, v) };
  });
}

/** Volumes no view has touched since `pollStartedAt`: Cinder no longer lists them. */
export async function unseenVolumeIds(q: Queryable, pollStartedAt: Date): Promise<string[]> {
  const res = await q.query<{ id: string }>(
    `SELECT id::text AS id FROM volumes
      WHERE deleted_at IS NULL AND seen_at < $1
      ORDER BY id FOR UPDATE`,
    [pollStartedAt],
  );
  return res.rows.map((r) => r.id);
}

/** Live (not deleted) volumes of the inventory. */
export async function countLiveVolumes(q: Queryable): Promise<number> {
  const res = await q.query<{ n: string }>(
    'SELECT count(*) AS n FROM volumes WHERE deleted_at IS NULL',
  );
  return Number(res.rows[0]?.n ?? 0);
}

/**
 * Marks volumes gone from Cinder: `deleted_at` (and status `deleted`, as the delete event
 * writes); their backups stay.
 */
export async function markVolumesDeleted(
  q: Queryable,
  ids: string[],
  now: Date,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const res = await q.query<{ id: string }>(
    `UPDATE volumes SET deleted_at = $2, status = 'deleted'
      WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL
      RETURNING id::text AS id`,
    [ids, now],
  );
  return res.rows.map((r) => r.id);
}

/** Serialises concurrent polls' writes (two controllers during a leader change). */
export async function lockInventoryWrites(q: Queryable): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('cinder-lvm-backup:inventory-poll'))`);
}

// ---- the notification path's writes --------------------------------------------------

/** What a notification's change needs to know of the row it changes. */
export interface VolumeRowState {
  seenAt: Date;
  deletedAt: Date | null;
  status: string;
  backendHost: string | null;
  lvName: string;
  metadata: Record<string, unknown>;
}

const ROW_STATE_FIELDS = [
  'seenAt',
  'deletedAt',
  'status',
  'backendHost',
  'lvName',
  'metadata',
] as const satisfies readonly (keyof VolumeRowState)[];
const rowStateFields = fieldsFromRow<VolumeRowState>()(ROW_STATE_FIELDS);

/**
 * Reads a volume's row and locks it until the caller's transaction ends. Event times are
 * written no later than the database clock (and events dated beyond the allowed skew are
 * refused before they get here), so `seenAt` is never pinned in the future.
 */
export async function lockVolume(q: Queryable, id: string): Promise<VolumeRowState | null> {
  return queryOne(
    q,
    `SELECT ${columnList(ROW_STATE_FIELDS)} FROM volumes WHERE id = $1 FOR UPDATE`,
    [id],
    (r: RowOf<VolumeRowState>) => rowStateFields(r),
  );
}

/** A volume as a notification payload describes it (notifications/volume-payload.ts). */
export interface VolumeFromEvent {
  volumeId: string;
  name: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  host: string | null;
  metadata: Record<string, string>;
  attachments: InventoryAttachment[];
  /** The volume type's id (payloads carry the id, the API the name). */
  volumeTypeId: string | null;
}

/**
 * Writes a notification payload's view of a volume as of `eventAt`. `typeChanged`: the
 * payload's type id replaces the stored type (a retype); otherwise the API's name stays.
 * False when the row already holds a newer view (nothing written).
 */
export async function upsertVolumeFromEvent(
  q: Queryable,
  s: VolumeFromEvent,
  eventAt: Date,
  typeChanged: boolean,
): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO volumes (id, name, project_id, status, size_gb, host, backend_host, lv_name,
                          metadata, attachments, volume_type, seen_at, deleted_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11,
             -- An event's own time, never later than our clock: it cannot pin the row.
             LEAST($12::timestamptz, now()),
             -- volume.exists audits report volumes deleted during the period as 'deleted'.
             CASE WHEN $4 = 'deleted' THEN LEAST($12::timestamptz, now()) END)
     ON CONFLICT (id) DO UPDATE SET
       name = EXCLUDED.name, project_id = EXCLUDED.project_id, status = EXCLUDED.status,
       size_gb = EXCLUDED.size_gb, host = EXCLUDED.host, backend_host = EXCLUDED.backend_host,
       metadata = EXCLUDED.metadata, attachments = EXCLUDED.attachments,
       volume_type = CASE WHEN $13 THEN EXCLUDED.volume_type ELSE volumes.volume_type END,
       seen_at = GREATEST(volumes.seen_at, EXCLUDED.seen_at), deleted_at = EXCLUDED.deleted_at
     -- The caller saw no row (or an older one), but a poll may have inserted a newer view
     -- meanwhile (its insert was not committed when the caller looked): that view wins.
     WHERE volumes.seen_at < EXCLUDED.seen_at`,
    [
      s.volumeId,
      s.name,
      s.projectId,
      s.status,
      s.sizeGb,
      s.host,
      backendHostOf(s.host),
      // New rows: the LV is named from the id until the API shows a name_id.
      `volume-${s.volumeId}`,
      JSON.stringify(s.metadata),
      JSON.stringify(s.attachments),
      s.volumeTypeId,
      eventAt,
      typeChanged,
    ],
  );
  return res.rowCount === 1;
}

/** Writes the Cinder API's view of one volume, read at `at`. */
export async function upsertVolumeFromApi(
  q: Queryable,
  v: InventoryVolume,
  at: Date,
): Promise<void> {
  await upsertVolumesFromApi(q, [{ volume: v, at }]);
}

/**
 * Writes the Cinder API's view of volumes, each read at its `at`, in one statement (rows in
 * the order given: callers holding other row locks pass them in id order).
 */
export async function upsertVolumesFromApi(
  q: Queryable,
  rows: readonly { volume: InventoryVolume; at: Date }[],
): Promise<void> {
  if (rows.length === 0) return;
  // The poller's recordset form: the same columns, the same conversions.
  await q.query(
    `INSERT INTO volumes AS v (${INVENTORY_COLUMNS}, seen_at, deleted_at)
     SELECT ${INVENTORY_COLUMNS}, seen_at, NULL
       FROM jsonb_to_recordset($1::jsonb) AS r(${INVENTORY_RECORD}, seen_at timestamptz)
     ON CONFLICT (id) DO UPDATE SET ${INVENTORY_FROM_EXCLUDED},
       seen_at = GREATEST(v.seen_at, EXCLUDED.seen_at), deleted_at = NULL`,
    [
      JSON.stringify(
        rows.map(({ volume, at }) => ({ ...inventoryColumns(volume), seen_at: at.toISOString() })),
      ),
    ],
  );
}

/** Marks one volume deleted in Cinder as of `at` (its backups stay). */
export async function markVolumeDeleted(q: Queryable, id: string, at: Date): Promise<void> {
  await markVolumesDeletedAt(q, [{ id, at }]);
}

/**
 * Marks volumes deleted in Cinder, each as of its `at`, in one statement; live rows only.
 * The ids that were live.
 */
export async function markVolumesDeletedAt(
  q: Queryable,
  rows: readonly { id: string; at: Date }[],
  options: { liveOnly?: boolean } = {},
): Promise<string[]> {
  if (rows.length === 0) return [];
  const res = await q.query<{ id: string }>(
    `UPDATE volumes v SET status = 'deleted', deleted_at = LEAST(u.at, now()),
            seen_at = GREATEST(v.seen_at, LEAST(u.at, now()))
       FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)
      WHERE v.id = u.id ${options.liveOnly === true ? 'AND v.deleted_at IS NULL' : ''}
      RETURNING v.id::text AS id`,
    [rows.map((r) => r.id), rows.map((r) => r.at.toISOString())],
  );
  return res.rows.map((r) => r.id);
}

/** Records a volume's Cinder status as of `at`. */
export async function setVolumeStatus(
  q: Queryable,
  id: string,
  status: string,
  at: Date,
): Promise<void> {
  await q.query(
    `UPDATE volumes SET status = $2, seen_at = GREATEST(seen_at, LEAST($3, now())) WHERE id = $1`,
    [id, status, at],
  );
}

// ---- the scheduler's reads and records -----------------------------------------------

/** What the metadata made of one volume, for recordPolicies. */
export interface PolicyRecord {
  volumeId: string;
  result: PolicyResult;
}

/**
 * Records what the metadata makes of each volume, in one statement: the policy (or null)
 * and the policy error (or null). A volume that loses its policy (untagged, or `backup=off`)
 * is off from `now` on (`policy_off_at`, where the grace of its backups starts); a policy or
 * a policy error clears it. Rows that would not change are not written.
 */
export async function recordPolicies(
  q: Queryable,
  records: readonly PolicyRecord[],
  now: Date = new Date(),
): Promise<void> {
  if (records.length === 0) return;
  const policies = records.map((r) =>
    r.result.kind === 'policy' ? JSON.stringify(r.result.policy) : null,
  );
  const errors = records.map((r) => (r.result.kind === 'error' ? r.result.message : null));
  await q.query(
    `UPDATE volumes v SET policy = u.policy, policy_error = u.error,
            next_due_at = CASE WHEN u.policy IS NULL THEN NULL ELSE v.next_due_at END,
            skip_reason = CASE WHEN u.policy IS NULL THEN NULL ELSE v.skip_reason END,
            policy_off_at = CASE WHEN u.policy IS NULL AND u.error IS NULL
                                 THEN coalesce(v.policy_off_at, $4) END,
            orphan_prune_at = CASE WHEN u.policy IS NULL AND u.error IS NULL
                                   THEN v.orphan_prune_at END,
            quota_error = CASE WHEN u.policy IS NULL THEN NULL ELSE v.quota_error END
       FROM unnest($1::uuid[], $2::jsonb[], $3::text[]) AS u(id, policy, error)
      WHERE v.id = u.id
        AND (v.policy IS DISTINCT FROM u.policy OR v.policy_error IS DISTINCT FROM u.error)`,
    [records.map((r) => r.volumeId), policies, errors, now],
  );
}

/** recordPolicies for one volume. */
export function recordPolicy(
  q: Queryable,
  volumeId: string,
  result: PolicyResult,
  now: Date = new Date(),
): Promise<void> {
  return recordPolicies(q, [{ volumeId, result }], now);
}

/** A volume as the scheduler sees it, with the history it needs. */
export interface SchedulableVolume {
  id: string;
  projectId: string;
  status: string;
  backendHost: string | null;
  lvName: string;
  metadata: Record<string, unknown>;
  policy: Record<string, unknown> | null;
  nextDueAt: Date | null;
  skipReason: string | null;
  /** The quota verdict the scheduler last recorded for the volume's project, or null. */
  quotaError: string | null;
  deletedAt: Date | null;
  lastSuccessAt: Date | null;
  lastAttemptAt: Date | null;
  hasOpenBackupJob: boolean;
}

const SCHEDULABLE_COLUMNS = `
  v.id, v.project_id, v.status, v.backend_host, v.lv_name, v.metadata, v.policy, v.next_due_at,
  v.skip_reason, v.quota_error, v.deleted_at,
  (SELECT max(b.finished_at) FROM backups b
    WHERE b.volume_id = v.id AND b.status = 'succeeded') AS last_success_at,
  -- A job can fail before it records a backup row (agent lost, LV missing).
  GREATEST(
    (SELECT max(b.started_at) FROM backups b WHERE b.volume_id = v.id),
    (SELECT max(j.finished_at) FROM jobs j
      WHERE j.volume_id = v.id AND j.kind = 'backup' AND j.state = 'failed')
  ) AS last_attempt_at,
  EXISTS (SELECT 1 FROM jobs j WHERE j.volume_id = v.id AND j.kind = 'backup'
            AND j.state IN ('queued', 'running')) AS has_open_backup_job`;

type SchedulableRow = RowOf<SchedulableVolume>;

const schedulableFromRow = fieldsFromRow<SchedulableVolume>()([
  'id',
  'projectId',
  'status',
  'backendHost',
  'lvName',
  'metadata',
  'policy',
  'nextDueAt',
  'skipReason',
  'quotaError',
  'deletedAt',
  'lastSuccessAt',
  'lastAttemptAt',
  'hasOpenBackupJob',
]);

/**
 * Every live volume that carries backup metadata or a recorded policy, with its last
 * successful backup (end), its last attempt (start) and whether a backup job is open.
 */
export async function listSchedulableVolumes(q: Queryable): Promise<SchedulableVolume[]> {
  const res = await q.query<SchedulableRow>(
    `SELECT ${SCHEDULABLE_COLUMNS}
       FROM volumes v
      WHERE v.deleted_at IS NULL
        AND (v.policy IS NOT NULL OR v.policy_error IS NOT NULL
             OR v.metadata ? 'backup'
             OR EXISTS (SELECT 1 FROM jsonb_object_keys(v.metadata) k WHERE k LIKE 'backup:%'))
      ORDER BY v.id`,
  );
  return res.rows.map((r) => schedulableFromRow(r));
}

/** One volume as the scheduler sees it (deleted or not), for an event-triggered backup. */
export async function getSchedulableVolume(
  q: Queryable,
  id: string,
): Promise<SchedulableVolume | null> {
  return queryOne(
    q,
    `SELECT ${SCHEDULABLE_COLUMNS} FROM volumes v WHERE v.id = $1`,
    [id],
    (r: SchedulableRow) => schedulableFromRow(r),
  );
}

/** The scheduler's decision for one volume (and its project's quota verdict). */
export interface ScheduleRecord {
  volumeId: string;
  nextDueAt: Date | null;
  skipReason: string | null;
  quotaError: string | null;
}

/** Records the scheduler's decisions in one statement; unchanged rows are not written. */
export async function recordSchedules(
  q: Queryable,
  records: readonly ScheduleRecord[],
): Promise<void> {
  if (records.length === 0) return;
  await q.query(
    `UPDATE volumes v SET next_due_at = u.due, skip_reason = u.skip, quota_error = u.quota
       FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[]) AS u(id, due, skip, quota)
      WHERE v.id = u.id
        AND (v.next_due_at IS DISTINCT FROM u.due OR v.skip_reason IS DISTINCT FROM u.skip
             OR v.quota_error IS DISTINCT FROM u.quota)`,
    [
      records.map((r) => r.volumeId),
      records.map((r) => r.nextDueAt),
      records.map((r) => r.skipReason),
      records.map((r) => r.quotaError),
    ],
  );
}

/**
 * Bytes each project's backups occupy: successful, unpruned backups of all its volumes
 * (deleted ones too: their backups are still stored). Projects without any are absent.
 */
export async function projectStoredBytes(q: Queryable): Promise<Map<string, number>> {
  const res = await q.query<{ project_id: string; bytes_stored: string }>(
    `SELECT project_id, bytes_stored FROM project_usage`,
  );
  return new Map(res.rows.map((r) => [r.project_id, Number(r.bytes_stored)]));
}

/** A tagged volume with where its backups stand (what `GET /v1/volumes` lists). */
export interface VolumeStatus {
  id: string;
  name: string | null;
  projectId: string;
  /** Cinder status (available, in-use, ...). */
  status: string;
  sizeGb: number;
  host: string | null;
  backendHost: string | null;
  lvName: string;
  attachments: unknown[];
  policy: Record<string, unknown> | null;
  /** The policy as one line (clb_policy_text of 0003_views.sql). */
  policyText: string | null;
  policyError: string | null;
  /** Why the volume's project gets no new backups (its quota), or null. */
  quotaError: string | null;
  skipReason: string | null;
  lastSuccessAt: Date | null;
  lastAttemptAt: Date | null;
  /** Status of the last attempt: running, succeeded, failed, cancelled; null: never tried. */
  lastStatus: string | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  nextDueAt: Date | null;
  overdue: boolean;
  backupsKept: number;
  bytesKept: number;
  openJobs: { id: number; kind: string; state: string }[];
}

export interface VolumeStatusFilter {
  /** Only this project's volumes (null: every project). */
  projectId: string | null;
  /** Only volumes whose last attempt has this status; `never`: not tried yet. */
  lastStatus?: string;
  /** Only volumes that are (true) or are not (false) overdue. */
  overdue?: boolean;
  /** Only this volume. */
  volumeId?: string;
  /**
   * Grace after a due time before a volume counts as overdue: the scheduler and the agent
   * need some minutes to run a due backup.
   */
  overdueGraceSeconds: number;
}

/** Counts come back as bigint text; they become numbers on the way out. */
type VolumeStatusRow = RowOf<Omit<VolumeStatus, 'backupsKept' | 'bytesKept'>> & {
  backups_kept: string;
  bytes_kept: string;
};

/**
 * Whether a tagged volume is overdue, as SQL over `v` (volumes): its last success
 * (`lastOk`) is older than its interval schedule plus the grace (`grace`, seconds), or, for
 * cron schedules and volumes never backed up, its due time passed more than the grace ago.
 */
function overdueSql(lastOk: string, grace: string): string {
  return `coalesce(v.policy IS NOT NULL AND CASE
             WHEN ${lastOk} IS NOT NULL
                  AND v.policy -> 'schedule' ->> 'kind' = 'interval'
                  AND jsonb_typeof(v.policy -> 'schedule' -> 'everySeconds') = 'number'
               THEN ${lastOk} < now() - make_interval(
                      secs => (v.policy -> 'schedule' ->> 'everySeconds')::double precision + ${grace})
             ELSE v.next_due_at < now() - make_interval(secs => ${grace})
           END, false)`;
}

/**
 * Tagged volumes (a policy or a policy error) with their backup figures; one row per
 * volume (overdue: see overdueSql). Parameters: $1 project, $2 volume id, $3 grace seconds, $4 last status,
 * $5 overdue; the page parameters come after.
 */
const VOLUME_STATUS_SQL = `
  SELECT * FROM (
    SELECT v.id, v.name, v.project_id, v.status, v.size_gb, v.host, v.backend_host, v.lv_name,
           v.attachments, v.policy, clb_policy_text(v.policy) AS policy_text, v.policy_error,
           v.quota_error, v.skip_reason, last_ok.finished_at AS last_success_at,
           last_try.started_at AS last_attempt_at, last_try.status AS last_status,
           last_try.error_code AS last_error_code, last_try.error_message AS last_error_message,
           v.next_due_at,
           ${overdueSql('last_ok.finished_at', '$3')} AS overdue,
           coalesce(kept.n, 0) AS backups_kept, coalesce(kept.bytes, 0) AS bytes_kept,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('id', j.id, 'kind', j.kind,
                                                         'state', j.state) ORDER BY j.id), '[]')
              FROM jobs j WHERE j.volume_id = v.id AND j.state IN ('queued', 'running')) AS open_jobs
      FROM volumes v
      LEFT JOIN LATERAL (
        SELECT b.finished_at FROM backups b
         WHERE b.volume_id = v.id AND b.status = 'succeeded'
         ORDER BY b.finished_at DESC LIMIT 1) last_ok ON true
      LEFT JOIN LATERAL (
        SELECT b.started_at, b.status, b.error_code, b.error_message FROM backups b
         WHERE b.volume_id = v.id ORDER BY b.started_at DESC, b.id DESC LIMIT 1) last_try ON true
      LEFT JOIN LATERAL (
        SELECT count(*) AS n, sum(b.bytes_written)::bigint AS bytes FROM backups b
         WHERE b.volume_id = v.id AND b.status = 'succeeded' AND b.pruned_at IS NULL) kept ON true
     WHERE v.deleted_at IS NULL AND (v.policy IS NOT NULL OR v.policy_error IS NOT NULL)
       AND ($1::text IS NULL OR v.project_id = $1)
       AND ($2::uuid IS NULL OR v.id = $2)
  ) s
  WHERE ($4::text IS NULL OR CASE WHEN $4 = 'never' THEN s.last_status IS NULL
                                  ELSE s.last_status = $4 END)
    AND ($5::boolean IS NULL OR s.overdue = $5)`;

function filterParams(f: VolumeStatusFilter): unknown[] {
  return [
    f.projectId,
    f.volumeId ?? null,
    f.overdueGraceSeconds,
    f.lastStatus ?? null,
    f.overdue ?? null,
  ];
}

const statusFields = fieldsFromRow<VolumeStatus>()([
  ...VOLUME_CORE_FIELDS,
  'attachments',
  'policy',
  'policyText',
  'policyError',
  'quotaError',
  'skipReason',
  'lastSuccessAt',
  'lastAttemptAt',
  'lastStatus',
  'lastErrorCode',
  'lastErrorMessage',
  'nextDueAt',
  'overdue',
]);

function volumeStatusFromRow(r: VolumeStatusRow): VolumeStatus {
  return {
    ...statusFields(r),
    backupsKept: Number(r.backups_kept),
    bytesKept: Number(r.bytes_kept),
    openJobs: r.open_jobs,
  };
}

/**
 * One page of tagged volumes in id order: those after `marker` (keyset pagination, so a
 * marker that has since gone still works), at most `limit`.
 */
export async function listVolumeStatus(
  q: Queryable,
  filter: VolumeStatusFilter,
  page: { limit: number; marker: string | null },
): Promise<VolumeStatus[]> {
  const res = await q.query<VolumeStatusRow>(
    `${VOLUME_STATUS_SQL} AND ($6::uuid IS NULL OR s.id > $6) ORDER BY s.id LIMIT $7`,
    [...filterParams(filter), page.marker, page.limit],
  );
  return res.rows.map(volumeStatusFromRow);
}

/** How many tagged volumes match the filter (all pages). */
export async function countVolumeStatus(q: Queryable, filter: VolumeStatusFilter): Promise<number> {
  const res = await q.query<{ n: string }>(
    `SELECT count(*) AS n FROM (${VOLUME_STATUS_SQL}) c`,
    filterParams(filter),
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** One tagged volume with its figures, or null (untagged, deleted or unknown). */
export async function getVolumeStatus(
  q: Queryable,
  id: string,
  overdueGraceSeconds: number,
): Promise<VolumeStatus | null> {
  return queryOne(
    q,
    VOLUME_STATUS_SQL,
    filterParams({ projectId: null, volumeId: id, overdueGraceSeconds }),
    volumeStatusFromRow,
  );
}

/** Where one tagged volume's backups stand, for metrics. */
export interface VolumeBackupAge {
  id: string;
  projectId: string;
  /** Seconds since its last successful backup ended; null: never backed up. */
  lastSuccessAgeSeconds: number | null;
  overdue: boolean;
  policyError: boolean;
  /** Its project is at or over its byte quota (no new backups). */
  overQuota: boolean;
}

/** Every tagged volume with the age of its last good backup (one query, for a scrape). */
export async function listVolumeBackupAges(
  q: Queryable,
  overdueGraceSeconds: number,
): Promise<VolumeBackupAge[]> {
  const res = await q.query<{
    id: string;
    project_id: string;
    age: number | null;
    overdue: boolean;
    policy_error: boolean;
    over_quota: boolean;
  }>(
    `SELECT v.id, v.project_id, extract(epoch FROM now() - ok.last)::float8 AS age,
            ${overdueSql('ok.last', '$1')} AS overdue, v.policy_error IS NOT NULL AS policy_error,
            v.quota_error IS NOT NULL AS over_quota
       FROM volumes v
       LEFT JOIN (SELECT volume_id, max(finished_at) AS last FROM backups
                   WHERE status = 'succeeded' GROUP BY volume_id) ok ON ok.volume_id = v.id
      WHERE v.deleted_at IS NULL AND (v.policy IS NOT NULL OR v.policy_error IS NOT NULL)`,
    [overdueGraceSeconds],
  );
  return res.rows.map((r) => ({
    id: r.id,
    projectId: r.project_id,
    lastSuccessAgeSeconds: r.age,
    overdue: r.overdue,
    policyError: r.policy_error,
    overQuota: r.over_quota,
  }));
}

/** A volume as its backups' manifests know it (catalog rebuild). */
export interface VolumeFromBackups {
  id: string;
  name: string | null;
  /** 'unknown' is stored when no manifest recorded it (the column is NOT NULL). */
  projectId: string | null;
  host: string | null;
  backendHost: string | null;
  lvName: string;
  sizeGb: number;
  policy: Record<string, unknown> | null;
}

/** Status of a volume known only from its backups, until the controller sees it in Cinder. */
export const STATUS_FROM_BACKUPS = 'unknown';

/**
 * Inserts a volume known only from its backups, with status `unknown` (so nothing is
 * scheduled for it until the controller sees it in Cinder and overwrites the row); a
 * volume already in the inventory is left as it is. True when a row was inserted.
 */
export async function insertVolumeFromBackups(
  q: Queryable,
  v: VolumeFromBackups,
): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO volumes (id, name, project_id, status, size_gb, host, backend_host, lv_name,
                          policy)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (id) DO NOTHING`,
    [
      v.id,
      v.name,
      v.projectId ?? 'unknown',
      STATUS_FROM_BACKUPS,
      v.sizeGb,
      v.host,
      v.backendHost,
      v.lvName,
      v.policy === null ? null : JSON.stringify(v.policy),
    ],
  );
  return (res.rowCount ?? 0) > 0;
}

// ---- the instance behind a volume (SSH consistency steps) ------------------------------

/**
 * What the controller found for the instance a volume is attached to (volumes.instance):
 * the address the agent connects to, or why there is none. Written by the controller's
 * instance resolver (src/inventory/instance-resolver.ts), read by the agent.
 */
export type VolumeInstance =
  | { serverId: string; serverName: string; address: string; resolvedAt: string }
  | { serverId: string | null; error: string; resolvedAt: string };

/** The stored JSON checked field by field (null when it is not a VolumeInstance). */
export function volumeInstanceOf(v: unknown): VolumeInstance | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const resolvedAt = o['resolvedAt'];
  if (typeof resolvedAt !== 'string') return null;
  const serverId = typeof o['serverId'] === 'string' ? o['serverId'] : null;
  if (typeof o['error'] === 'string') return { serverId, error: o['error'], resolvedAt };
  const { serverName, address } = o;
  if (serverId === null || typeof serverName !== 'string' || typeof address !== 'string') {
    return null;
  }
  return { serverId, serverName, address, resolvedAt };
}

/** A tagged volume whose policy asks for SSH steps, with the instance resolved before. */
export interface VolumeToResolve {
  id: string;
  projectId: string;
  /** The first attachment's server (a multi-attach volume uses its first server). */
  serverId: string | null;
  instance: VolumeInstance | null;
}

/**
 * Live volumes whose policy asks for a dump or a freeze and whose instance was never
 * resolved, was resolved before `staleBefore`, or was resolved for another server than the
 * one the volume is attached to now; oldest resolution first, at most `limit`.
 */
export async function listVolumesToResolve(
  q: Queryable,
  staleBefore: Date,
  limit: number,
): Promise<VolumeToResolve[]> {
  const res = await q.query<{
    id: string;
    project_id: string;
    server_id: string | null;
    instance: unknown;
  }>(
    `SELECT id::text AS id, project_id, attachments->0->>'server_id' AS server_id, instance
       FROM volumes
      WHERE deleted_at IS NULL AND policy IS NOT NULL
        AND (jsonb_typeof(policy->'mysqldump') = 'object'
             OR jsonb_typeof(policy->'freeze') = 'object')
        AND (instance IS NULL
             OR (instance->>'resolvedAt')::timestamptz < $1
             OR instance->>'serverId' IS DISTINCT FROM attachments->0->>'server_id')
      ORDER BY (instance->>'resolvedAt')::timestamptz NULLS FIRST, id
      LIMIT $2`,
    [staleBefore, limit],
  );
  return res.rows.map((r) => ({
    id: r.id,
    projectId: r.project_id,
    serverId: r.server_id,
    instance: volumeInstanceOf(r.instance),
  }));
}

/** Stores what the resolver found for a volume (the previous value is replaced). */
export async function setVolumeInstance(
  q: Queryable,
  id: string,
  instance: VolumeInstance,
): Promise<void> {
  await q.query('UPDATE volumes SET instance = $2 WHERE id = $1', [id, JSON.stringify(instance)]);
}
