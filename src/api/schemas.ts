/**
 * JSON schemas of the API: requests are validated against them, responses serialized
 * through them (a field not in the schema is never sent), and the OpenAPI document at
 * /openapi.json is generated from them. OpenAPI 3.1, so `null` is a type like any other.
 */
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({
  type: [type, 'null'],
  ...extra,
});
const time = nullable('string', { format: 'date-time' });

export const UUID_PATTERN =
  '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const errorRef = {
  type: ['object', 'null'],
  properties: { code: { type: 'string' }, message: { type: ['string', 'null'] } },
};

/** Shared schemas, registered with `addSchema` and named in the document by their $id. */
export const SHARED_SCHEMAS = [
  {
    $id: 'Error',
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'stable code (src/errors.ts)' },
          message: { type: 'string' },
        },
      },
    },
  },
  {
    $id: 'Volume',
    type: 'object',
    required: ['id', 'project_id', 'status', 'overdue', 'backups_kept', 'bytes_kept', 'open_jobs'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      name: nullable('string'),
      project_id: { type: 'string' },
      status: { type: 'string', description: 'Cinder status of the volume' },
      size_gb: { type: 'integer' },
      host: nullable('string', { description: 'host@backend#pool (admins only)' }),
      policy: nullable('string', { description: 'the backup policy as one line' }),
      policy_error: nullable('string', { description: 'why the backup metadata makes no policy' }),
      quota_error: nullable('string', {
        description:
          "why the volume's project gets no new backups: its stored bytes are at or over its quota",
      }),
      skip_reason: nullable('string'),
      last_success_at: time,
      last_attempt_at: time,
      last_status: nullable('string', {
        description: 'status of the last attempt: running, succeeded, failed, cancelled',
      }),
      last_error: errorRef,
      next_due_at: time,
      overdue: { type: 'boolean' },
      backups_kept: { type: 'integer' },
      bytes_kept: { type: 'integer' },
      open_jobs: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: { type: 'integer' },
            kind: { type: 'string' },
            state: { type: 'string' },
          },
        },
      },
    },
  },
  {
    $id: 'Backup',
    type: 'object',
    required: ['id', 'volume_id', 'status'],
    properties: {
      id: { type: 'integer', description: 'catalog row id' },
      backup_id: nullable('string', { description: "the engine's id, the directory name" }),
      volume_id: { type: 'string', format: 'uuid' },
      job_id: nullable('integer'),
      status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'cancelled'] },
      reason: { type: 'string' },
      started_at: time,
      finished_at: time,
      duration_seconds: nullable('number'),
      bytes_read: nullable('integer'),
      bytes_stored: nullable('integer'),
      throughput_bytes_per_second: nullable('number'),
      consistency: nullable('string'),
      snapshot_peak_percent: nullable('number'),
      verified_at: time,
      verify_ok: nullable('boolean'),
      pruned_at: time,
      prune_reason: nullable('string', {
        description:
          "why its archives were deleted: 'retention', or its volume deleted or switched off past the grace ('volume deleted 2026-10-01, grace 30 d')",
      }),
      error: errorRef,
      node: nullable('string', { description: 'agent that ran it (admins only)' }),
      location: nullable('string', { description: 'backup directory (admins only)' }),
    },
  },
  {
    $id: 'Archive',
    type: ['object', 'null'],
    properties: {
      file: nullable('string'),
      format: nullable('string'),
      bytes: nullable('integer'),
      uncompressed_bytes: nullable('integer'),
      sha256: nullable('string'),
    },
  },
  {
    $id: 'BackupDetail',
    type: 'object',
    allOf: [{ $ref: 'Backup#' }],
    properties: {
      verify_error: nullable('string'),
      manifest: {
        type: ['object', 'null'],
        properties: {
          backup_id: nullable('string'),
          consistency: nullable('string'),
          partition_table: nullable('string'),
          source_size_bytes: nullable('integer'),
          head: { $ref: 'Archive#' },
          partitions: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                number: nullable('integer'),
                start_sector: nullable('integer'),
                size_bytes: nullable('integer'),
                filesystem: nullable('string'),
                uuid: nullable('string'),
                label: nullable('string'),
                action: nullable('string'),
                reason: nullable('string'),
                used_bytes: nullable('integer'),
                file_count: nullable('integer'),
                archive: { $ref: 'Archive#' },
              },
            },
          },
          totals: {
            type: 'object',
            properties: {
              archived_bytes: nullable('integer'),
              stored_bytes: nullable('integer'),
              file_count: nullable('integer'),
            },
          },
        },
      },
    },
  },
  {
    $id: 'Job',
    type: 'object',
    required: ['id', 'kind', 'volume_id', 'state'],
    properties: {
      id: { type: 'integer' },
      kind: { type: 'string', enum: ['backup', 'verify', 'restore', 'prune'] },
      volume_id: { type: 'string', format: 'uuid' },
      state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
      reason: { type: 'string' },
      attempts: { type: 'integer' },
      max_attempts: { type: 'integer' },
      run_at: time,
      created_at: time,
      updated_at: time,
      finished_at: time,
      cancel_requested_at: time,
      error: errorRef,
      backup_row_id: nullable('integer'),
      target_volume_id: nullable('string'),
      node: nullable('string'),
      backend_host: nullable('string'),
    },
  },
  {
    $id: 'Links',
    type: 'array',
    items: {
      type: 'object',
      required: ['rel', 'href'],
      properties: { rel: { type: 'string' }, href: { type: 'string' } },
    },
  },
] as const;

/** Error answers a /v1 route may give, by status. */
export function errorResponses(...statuses: number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of statuses) out[String(s)] = { $ref: 'Error#' };
  return out;
}

export const volumeIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: UUID_PATTERN } },
} as const;

export const rowIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } },
} as const;

export const pageQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
} as const;

/** Actions that take no input accept no body, or an empty JSON object. */
export const noBody = {
  type: 'object',
  additionalProperties: false,
  properties: {},
  description: 'no body, or {}',
} as const;

/** With `noBody`: a request without a body is validated as `{}`. */
export function bodylessAsEmpty(req: { body: unknown }, _reply: unknown, done: () => void): void {
  if (req.body === undefined || req.body === null) req.body = {};
  done();
}
