/**
 * Stable error codes and the AppError base class.
 *
 * Every failure the service reports carries one of these codes; scripts and the catalog
 * branch on them, so a code, once published, keeps its meaning. Add new codes at the end of
 * their group with a one-line meaning.
 */
export const ERROR_CODES = {
  // input and configuration
  INVALID_ARGUMENT: 'a command-line argument or API parameter is malformed',
  INVALID_LV_NAME: 'a volume group or logical volume name is not a valid LVM name',
  INVALID_EXCLUDE: 'an exclude pattern is unsafe or malformed',
  CONFIG_INVALID: 'the configuration is missing a value or holds a bad one',
  POLICY_INVALID: 'backup metadata on a volume does not parse or is unsafe',
  // storage node
  LV_NOT_FOUND: 'the logical volume to back up does not exist',
  DEVICE_NOT_FOUND: 'the block device to back up or restore to does not exist',
  NO_SNAPSHOT_SPACE: 'the volume group or thin pool lacks room for the snapshot',
  THIN_POOL_FULL:
    "the thin pool filled up while the backup's snapshot held blocks in it; the backup stopped and the snapshot was removed to give the space back",
  SNAPSHOT_FAILED: 'lvcreate could not make the snapshot',
  SNAPSHOT_OVERFLOW:
    'the snapshot filled up (invalidated) while it was read; its data is not usable',
  PARTITION_FAILED: 'partition discovery or mapping (kpartx) failed',
  PARTITION_TABLE_INVALID:
    'the partition table has overlapping partitions or ones beyond the device; refused',
  MOUNT_FAILED: 'a filesystem of the snapshot could not be mounted read-only',
  ARCHIVE_FAILED: 'tar, the compressor or the checksum stage failed',
  DEST_NOT_WRITABLE: 'the destination directory cannot be written',
  DEST_FULL: 'the destination ran out of space',
  CLEANUP_FAILED: 'a snapshot, mapping or mount could not be removed',
  TOOL_MISSING: 'a required system program is not installed',
  COMMAND_FAILED: 'a system command exited with an error',
  COMMAND_TIMEOUT: 'a system command did not finish in its time limit',
  ABORTED: 'the operation was cancelled (signal, shutdown, job cancel)',
  ARCHIVE_TOO_LARGE:
    "a filesystem's tar stream outgrew its bound ([agent] archive_max_ratio × used bytes + archive_slack); tar and zstd were stopped and nothing was kept",
  ARCHIVE_TIMEOUT:
    'the archive step outlasted its time limit ([agent] archive_timeout, archive_min_rate); tar and zstd were stopped and nothing was kept',
  PRUNE_WRONG_HOST:
    "a prune named a backup that this job's backend host does not hold (another storage node's destination has it); it was not touched",
  DEST_GONE:
    'the destination went away during the backup (unmounted, or its directory removed or replaced)',
  // restore and verify
  MANIFEST_INVALID: 'a backup manifest is missing, unreadable or malformed',
  CHECKSUM_MISMATCH: 'an archive does not match the checksum in its manifest',
  ARCHIVE_UNREADABLE: 'an archive cannot be decompressed or listed',
  TARGET_TOO_SMALL: 'the restore target is smaller than the backed-up volume',
  RESTORE_MISMATCH: 'the restored data does not match the manifest',
  TARGET_IN_USE: 'the restore target is mounted or held by another device',
  RESTORE_FAILED: 'writing the restored data to the target failed (mkfs, mount, tar, device write)',
  TARGET_REFUSED:
    'the restore target is not an available, detached Cinder volume LV of a VG this node serves (by hand: --force)',
  CHAIN_BROKEN:
    'an incremental backup cannot be restored or verified: a backup of its chain is missing or does not fit',
  TARGET_MAINTENANCE_FAILED:
    'Cinder did not put the restore target in `maintenance` (the service user lacks the admin role for os-reset_status, or Cinder failed); [restore] set_maintenance = false restores without it',
  // services
  DB_UNAVAILABLE: 'PostgreSQL cannot be reached or dropped the connection mid-statement',
  SCHEMA_TOO_NEW: 'the database schema is newer than this code',
  AMQP_UNAVAILABLE: 'the message broker cannot be reached',
  OPENSTACK_AUTH_FAILED: 'Keystone refused the credentials',
  OPENSTACK_API_ERROR: 'an OpenStack API answered with an error',
  OPENSTACK_UNAVAILABLE: 'an OpenStack API cannot be reached or answers 5xx/429',
  JOB_NOT_FOUND: 'no such job',
  VOLUME_NOT_FOUND: 'no such volume in the inventory',
  SCHEMA_TOO_OLD: 'the database lacks migrations this code needs; run `migrate`',
  LEASE_EXPIRED: 'the agent holding a job stopped renewing its lease (crash, partition)',
  DB_CONFLICT:
    'a transaction lost a serialization or deadlock race (40001, 40P01); a retry may pass',
  CONNECTION_LOST: 'a network connection to a service was refused, reset or timed out',
  MAIL_UNAVAILABLE: 'the mail server cannot be reached or refused the mail',
  INTERNAL: 'a bug: an unexpected state',
  // HTTP API
  UNAUTHENTICATED: 'the request carries no X-Auth-Token, or Keystone does not accept it',
  FORBIDDEN: 'the token lacks the role this action needs',
  BACKUP_NOT_FOUND: 'no such backup',
  ROUTE_NOT_FOUND: 'no such API path or method',
  REQUEST_TOO_LARGE: 'the request body (or its line and headers) is larger than the API accepts',
  BACKUP_NOT_USABLE: 'the backup did not succeed or was pruned: it cannot be verified or restored',
  JOB_CONFLICT: 'the volume already has an open job of that kind for something else',
  RATE_LIMITED:
    "a back-up-now came sooner after the volume's last backup than the minimum interval allows",
  QUOTA_EXCEEDED:
    "the volume's project stores as many backup bytes as its quota ([retention] max_project_bytes) allows: no new backups",
  // application consistency (SSH into the instance)
  SSH_HOST_KEY_UNKNOWN:
    "the instance's host key is not in the service's known_hosts (add it with `ssh add-host-key`)",
  SSH_HOST_KEY_CHANGED:
    "the instance's host key differs from the one in known_hosts (rotated, or someone in between)",
  SSH_UNREACHABLE: 'the instance cannot be reached over SSH (refused, timed out, no route)',
  SSH_AUTH_FAILED: "the instance refused the operator's SSH user or key",
  DUMP_FAILED: 'mysqldump inside the instance failed or its output was truncated',
  FREEZE_FAILED: 'fsfreeze inside the instance failed, or the freeze outlasted its bound',
  INSTANCE_NOT_FOUND: 'no usable instance for the volume (no attachment, not ACTIVE, no address)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes for which a retry may succeed without a change of input. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NO_SNAPSHOT_SPACE',
  'SNAPSHOT_OVERFLOW',
  'THIN_POOL_FULL',
  'CLEANUP_FAILED',
  'COMMAND_TIMEOUT',
  'DEST_FULL',
  'DEST_GONE',
  'DB_UNAVAILABLE',
  'DB_CONFLICT',
  'CONNECTION_LOST',
  'AMQP_UNAVAILABLE',
  'OPENSTACK_UNAVAILABLE',
  'LEASE_EXPIRED',
  'SSH_UNREACHABLE',
  'MAIL_UNAVAILABLE',
]);

export interface AppErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

/** The base of every error the service raises on purpose. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * SQLSTATEs after which the same statement may succeed: serialization failure and
 * deadlock (the transaction lost a race), and the classes that mean the server, not the
 * statement, failed: 08 connection exception, 53 insufficient resources (too many
 * connections, out of memory), 57P01-03 admin/crash shutdown and "cannot connect now"
 * (the server is restarting), 58 system error (I/O). PostgreSQL manual, Appendix A.
 * 55000 with severity FATAL is the refusal of a new session to a database that is not
 * accepting connections (ALLOW_CONNECTIONS false during maintenance): it passes when the
 * database opens again (the consumer dead-lettered notifications on it, seen in
 * test/reliability/postgres-faults.test.ts), whereas a 55000 answer to a statement does not.
 */
const CONFLICT_STATES = new Set(['40001', '40P01']);
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '55P03']);
const UNAVAILABLE_CLASSES = new Set(['08', '53', '58']);

/** Socket errors that mean the peer went away or never answered. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * What node-postgres says when the socket closes under a query or a connect times out;
 * these errors carry no code.
 */
const PG_CONNECTION_LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

function codeOf(err: unknown): string | null {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : null;
}

/** A PostgreSQL error answer (pg's DatabaseError) carries a 5-character SQLSTATE and a severity. */
function sqlStateOf(err: unknown): string | null {
  const code = codeOf(err);
  const severity = (err as { severity?: unknown } | null | undefined)?.severity;
  return code !== null && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string' ? code : null;
}

function severityOf(err: unknown): string | null {
  const severity = (err as { severity?: unknown } | null | undefined)?.severity;
  return typeof severity === 'string' ? severity : null;
}

/**
 * The code of a foreign error (not an AppError) that is known to pass by itself: a lost or
 * refused database connection, a serialization or deadlock failure, a reset socket.
 * Null for everything else. Looks through `cause` chains (a wrapper keeps the original).
 */
export function transientCodeOf(err: unknown): ErrorCode | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof AppError) return e.retryable ? e.code : null;
    const state = sqlStateOf(e);
    if (state !== null) {
      if (CONFLICT_STATES.has(state)) return 'DB_CONFLICT';
      if (state === '55000' && severityOf(e) === 'FATAL') return 'DB_UNAVAILABLE';
      if (UNAVAILABLE_STATES.has(state) || UNAVAILABLE_CLASSES.has(state.slice(0, 2))) {
        return 'DB_UNAVAILABLE';
      }
      // Any other SQLSTATE is an answer about the statement: it fails again.
      return null;
    }
    if (PG_CONNECTION_LOST.test(e.message)) return 'DB_UNAVAILABLE';
    const code = codeOf(e);
    if (code !== null && NETWORK_CODES.has(code)) return 'CONNECTION_LOST';
  }
  return null;
}

/**
 * Wraps anything thrown into an AppError, keeping the original as `cause`. A foreign error
 * that is known to be transient (see transientCodeOf) gets its own retryable code instead
 * of `fallback`, so a job that met a database restart is retried rather than failed.
 */
export function toAppError(err: unknown, fallback: ErrorCode = 'INTERNAL'): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const transient = transientCodeOf(err);
  if (transient !== null) return new AppError(transient, message, { cause: err, retryable: true });
  return new AppError(fallback, message, { cause: err });
}

/**
 * The one place that decides whether a failure is worth another try: an AppError says so
 * itself (its code's default, or what the raiser knew); a foreign error is retryable when
 * transientCodeOf recognises it.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AppError) return err.retryable;
  return transientCodeOf(err) !== null;
}
