/**
 * Reads what a report of a window needs from the catalog (the views and the backups and
 * destination_space tables) and builds it.
 */
import { listBackupsInWindow, listBackupsPrunedInWindow } from '../db/backups.js';
import { listDestinationSpace } from '../db/destination-space.js';
import type { Queryable } from '../db/queryable.js';
import { listStrandedBackups } from '../db/held-elsewhere.js';
import { listBackupStatusWithPolicy, listFailuresBetween } from '../db/views.js';
import { buildReport, type Report } from './build-report.js';
import type { ReportWindow } from './report-input.js';

export interface ReportSettings {
  timeZone: string;
  tooOldGraceSeconds: number;
}

/** The report of `window` from the catalog as it is now. */
export async function loadReport(
  q: Queryable,
  window: ReportWindow,
  settings: ReportSettings,
): Promise<Report> {
  const [status, runs, failures, pruned, space, stranded] = await Promise.all([
    listBackupStatusWithPolicy(q),
    listBackupsInWindow(q, window.start, window.end),
    listFailuresBetween(q, window.start, window.end),
    listBackupsPrunedInWindow(q, window.start, window.end),
    listDestinationSpace(q),
    listStrandedBackups(q),
  ]);
  return buildReport({
    window,
    timeZone: settings.timeZone,
    tooOldGraceSeconds: settings.tooOldGraceSeconds,
    volumes: status.map((s) => ({
      id: s.volume_id,
      name: s.volume_name,
      projectId: s.project_id,
      host: s.host,
      policy: s.policy_json,
      policyText: s.policy,
      // Over its project's quota, a volume is reported with the policy errors: it gets no backups.
      policyError: s.policy_error ?? s.quota_error,
      lastSuccessAt: s.last_success_at,
      nextDueAt: s.next_due_at,
    })),
    runs,
    failures,
    pruned,
    space,
    stranded: stranded.map((s) => ({
      volumeId: s.volume_id,
      volumeName: s.volume_name,
      projectId: s.project_id,
      heldBy: s.held_by,
      holderLastSeenAt: s.holder_last_seen_at,
      finishedAt: s.finished_at,
      bytesWritten: s.bytes_written,
      reason: s.reason,
    })),
  });
}
