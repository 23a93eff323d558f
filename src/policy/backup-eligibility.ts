/**
 * Whether a volume's current state lets a backup run now (pure). A snapshot of a volume that
 * Cinder is creating, deleting, extending, migrating or that is in error would copy nothing
 * useful or race Cinder's own LVM operations, so the scheduler skips it and records why.
 */

/** Cinder statuses in which the LV is stable and a snapshot is safe. */
export const BACKUP_STATUSES: ReadonlySet<string> = new Set(['available', 'in-use']);

export interface EligibilityInput {
  status: string;
  backendHost: string | null;
  deletedAt: Date | null;
}

/** Null when a backup may run; otherwise the reason it may not (for skip_reason). */
export function backupBlockedReason(v: EligibilityInput): string | null {
  if (v.deletedAt !== null) return 'volume is deleted in Cinder';
  if (!BACKUP_STATUSES.has(v.status)) {
    return `volume status is "${v.status}"; backups run only when available or in-use`;
  }
  if (v.backendHost === null || v.backendHost === '') {
    return 'volume has no backend host yet (not scheduled by Cinder)';
  }
  return null;
}
