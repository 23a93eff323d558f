/**
 * What a report is built from: plain rows read from the catalog (src/db), no I/O here.
 */
import type { BackupInWindow } from '../db/backups.js';
import type { BackupFailureRow } from '../db/views.js';

export interface ReportWindow {
  start: Date;
  end: Date;
}

/** A tagged volume (a row of `backup_status` with its stored policy). */
export interface ReportVolume {
  id: string;
  name: string | null;
  projectId: string;
  host: string | null;
  /** volumes.policy as stored by the controller (a BackupPolicy), or null. */
  policy: Record<string, unknown> | null;
  policyText: string | null;
  policyError: string | null;
  lastSuccessAt: Date | null;
  nextDueAt: Date | null;
}

/** One backup attempt that ended (or is still running) in the window. */
export type ReportRun = BackupInWindow;

/** A row of the `backup_failures` view in the window (backup, verify, restore, prune). */
export type ReportFailure = Omit<BackupFailureRow, 'backupRowId' | 'reason'>;

/**
 * A backup whose archives were deleted in the window: by retention (`reason` `retention`,
 * or null for rows pruned before reasons were recorded), or because its volume was deleted
 * or switched off longer than the grace (the reason says so).
 */
export interface ReportPruned {
  volumeId: string;
  prunedAt: Date;
  bytesWritten: number | null;
  reason?: string | null;
  volumeName?: string | null;
  projectId?: string | null;
}

/** A storage node's destination as its agent last measured it. */
export interface ReportSpace {
  node: string;
  dest: string;
  sizeBytes: number;
  freeBytes: number;
  reportedAt: Date;
}

/** A backup no agent can prune: its holder's agent was not seen for a day (stranded_backups). */
export interface ReportStranded {
  volumeId: string;
  volumeName: string | null;
  projectId: string;
  /** The backend host whose destination holds it. */
  heldBy: string;
  /** When that host's agent was last seen; null: never. */
  holderLastSeenAt: Date | null;
  finishedAt: Date | null;
  bytesWritten: number | null;
  reason: string;
}

export interface ReportInput {
  window: ReportWindow;
  /** Zone in which times are shown and cron schedules read. */
  timeZone: string;
  /** Slack after a backup was due before its volume counts as too old. */
  tooOldGraceSeconds: number;
  volumes: ReportVolume[];
  runs: ReportRun[];
  failures: ReportFailure[];
  pruned: ReportPruned[];
  space: ReportSpace[];
  /** The stranded backups as the report is made (not only of the window): absent, none. */
  stranded?: ReportStranded[];
}
