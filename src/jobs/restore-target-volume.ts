/**
 * The volume a restore job overwrites, as the enqueuer found it in Cinder: only a volume
 * that Cinder reports `available` with no attachment, on the same backend host as the job
 * (so the agent that claims the job has it in its VG). The job carries this record; the
 * agent re-reads it (it cannot be trusted more than the row it came in) and re-checks what
 * it can see locally (the LV's kind and open count, under an exclusive hold). Pure.
 */
import { AppError } from '../errors.js';

/** What the enqueuer checked, kept in the job's payload as `targetVolume`. */
export interface CheckedTargetVolume {
  id: string;
  lvName: string;
  backendHost: string;
  status: 'available';
  attachments: 0;
  /** When Cinder was asked (ISO time). */
  checkedAt: string;
}

/** The parts of a Cinder volume the check needs (InventoryVolume has them). */
export interface TargetVolumeFacts {
  id: string;
  status: string;
  backendHost: string | null;
  lvName: string;
  attachments: readonly unknown[];
}

/** What a restore needs of Cinder to hold its target: read a volume, set its status (admin). */
export interface TargetStatusCinder {
  lookup: (volumeId: string) => Promise<TargetVolumeFacts | null>;
  resetStatus: (volumeId: string, status: string) => Promise<void>;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const VOLUME_ID = new RegExp(`^${UUID}$`);
const LV_NAME = new RegExp(`^volume-${UUID}$`);

function refuse(message: string): AppError {
  return new AppError('TARGET_REFUSED', message, { retryable: false });
}

/**
 * Checks the target volume as Cinder reported it, for a restore job of `jobHost`; returns
 * the record the job carries or throws TARGET_REFUSED.
 */
export function checkTargetVolume(
  v: TargetVolumeFacts,
  jobHost: string,
  now: Date,
): CheckedTargetVolume {
  if (!VOLUME_ID.test(v.id) || !LV_NAME.test(v.lvName)) {
    throw refuse(`target volume ${v.id} has no Cinder LV name (${v.lvName})`);
  }
  if (v.status !== 'available') {
    throw refuse(`target volume ${v.id} is ${v.status}; a restore needs it available`);
  }
  if (v.attachments.length > 0) {
    throw refuse(`target volume ${v.id} is attached (${v.attachments.length} attachment(s))`);
  }
  if (v.backendHost !== jobHost) {
    throw refuse(
      `target volume ${v.id} lives on ${String(v.backendHost)}, the backup's volume on ${jobHost}`,
    );
  }
  return {
    id: v.id,
    lvName: v.lvName,
    backendHost: v.backendHost,
    status: 'available',
    attachments: 0,
    checkedAt: now.toISOString(),
  };
}

/** Reads and re-validates `payload.targetVolume` of a restore job; TARGET_REFUSED otherwise. */
export function targetVolumeOfPayload(
  payload: Record<string, unknown>,
  jobHost: string,
): CheckedTargetVolume {
  const t = payload['targetVolume'];
  if (typeof t !== 'object' || t === null || Array.isArray(t)) {
    throw refuse('the restore job names no checked target volume (payload.targetVolume)');
  }
  const r = t as Record<string, unknown>;
  const { id, lvName, backendHost, status, attachments, checkedAt } = r;
  if (
    typeof id !== 'string' ||
    typeof lvName !== 'string' ||
    typeof backendHost !== 'string' ||
    typeof checkedAt !== 'string' ||
    Number.isNaN(Date.parse(checkedAt))
  ) {
    throw refuse('payload.targetVolume is malformed');
  }
  if (status !== 'available' || attachments !== 0) {
    throw refuse(`target volume ${id} was not checked available and detached`);
  }
  return checkTargetVolume(
    { id, lvName, backendHost, status, attachments: [] },
    jobHost,
    new Date(checkedAt),
  );
}

/** The device of the target volume on a node that serves it from `vg`. */
export function targetDevicePath(vg: string, t: CheckedTargetVolume): string {
  return `/dev/${vg}/${t.lvName}`;
}

/**
 * Asks Cinder (through `lookup`) for the target volume and checks it for a restore job of
 * `jobHost`: VOLUME_NOT_FOUND when Cinder does not know it, TARGET_REFUSED when it may not
 * be overwritten.
 */
export async function lookUpTargetVolume(
  lookup: (id: string) => Promise<TargetVolumeFacts | null>,
  id: string,
  jobHost: string,
  now: () => Date = () => new Date(),
): Promise<CheckedTargetVolume> {
  const v = await lookup(id);
  if (v === null) throw new AppError('VOLUME_NOT_FOUND', `Cinder has no volume ${id}`);
  return checkTargetVolume(v, jobHost, now());
}

/** What Cinder shows of a held target once it was asked to put it in `maintenance`. */
export function heldTargetProblem(
  v: TargetVolumeFacts | null,
  t: CheckedTargetVolume,
): string | null {
  if (v === null) return `Cinder no longer has volume ${t.id}`;
  if (v.status !== 'maintenance') {
    return `target volume ${t.id} is ${v.status}, not maintenance, after it was put in maintenance`;
  }
  if (v.attachments.length > 0) {
    return (
      `target volume ${t.id} was attached (${v.attachments.length} attachment(s)) between ` +
      'the check and maintenance'
    );
  }
  if (v.backendHost !== t.backendHost || v.lvName !== t.lvName) {
    return `target volume ${t.id} moved (now ${String(v.backendHost)}, ${v.lvName})`;
  }
  return null;
}

/**
 * The status a restore's target is put back to once its restore has ended, or null to
 * leave it as it is: only a volume still in `maintenance` is changed (anything else was
 * changed by someone else since, and is theirs); one that shows an attachment (made before
 * maintenance took effect) goes back to `in-use`, the others to the status it had.
 */
export function statusToPutBack(
  v: Pick<TargetVolumeFacts, 'status' | 'attachments'> | null,
  previousStatus: string,
): { status: string | null; note: string } {
  if (v === null) return { status: null, note: 'Cinder no longer has the volume' };
  if (v.status !== 'maintenance') {
    return { status: null, note: `Cinder shows ${v.status}: left as it is` };
  }
  if (v.attachments.length > 0) {
    return { status: 'in-use', note: 'maintenance → in-use (the volume has an attachment)' };
  }
  return { status: previousStatus, note: `maintenance → ${previousStatus}` };
}
