/**
 * Checks of a restored volume against its manifest: the partition table, each filesystem's
 * type, UUID and label, and its number of entries. Pure: values in, verdicts out.
 */
import { AppError } from '../errors.js';
import type { ManifestPartition } from './manifest.js';
import type { BlkidProbe } from './parse/blkid-export.js';
import { parseSfdiskDump } from './parse/sfdisk.js';

export interface RestoreCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** How a partition is named in checks and messages: `p2`, or `p0` for a whole device. */
export function partitionTag(p: Pick<ManifestPartition, 'number'>): string {
  return `p${p.number ?? 0}`;
}

function same(a: string | null | undefined, b: string | null | undefined): boolean {
  return (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
}

/** Partition fields that must survive a restore (the table's geometry and identity). */
const PARTITION_FIELDS = ['start', 'size', 'type', 'uuid', 'name', 'attrs', 'bootable'] as const;

/** Compares the table written to the target with the dump saved at backup time. */
export function checkTable(savedDump: string, targetDump: string): RestoreCheck {
  const saved = parseSfdiskDump(savedDump);
  const target = parseSfdiskDump(targetDump);
  const problems: string[] = [];
  for (const key of ['label', 'label-id']) {
    if (!same(saved.header[key], target.header[key])) {
      problems.push(`${key} ${String(target.header[key])} instead of ${String(saved.header[key])}`);
    }
  }
  const byNumber = new Map(target.partitions.map((p) => [p.number, p]));
  for (const want of saved.partitions) {
    const got = byNumber.get(want.number);
    if (got === undefined) {
      problems.push(`partition ${want.number} is missing`);
      continue;
    }
    for (const field of PARTITION_FIELDS) {
      const a = field === 'start' || field === 'size' ? String(want[field]) : want.fields[field];
      const b = field === 'start' || field === 'size' ? String(got[field]) : got.fields[field];
      if (!same(a, b))
        problems.push(`partition ${want.number} ${field} ${String(b)} instead of ${String(a)}`);
    }
  }
  if (target.partitions.length !== saved.partitions.length) {
    problems.push(`${target.partitions.length} partitions instead of ${saved.partitions.length}`);
  }
  return problems.length === 0
    ? { name: 'partition table', ok: true, detail: `${saved.partitions.length} partitions` }
    : { name: 'partition table', ok: false, detail: problems.join('; ') };
}

/** Compares a restored filesystem's identity (blkid probe) with the manifest. */
export function checkIdentity(p: ManifestPartition, probe: BlkidProbe): RestoreCheck {
  const name = `${partitionTag(p)} identity`;
  const problems: string[] = [];
  if (!same(probe.type, p.fsType))
    problems.push(`type ${String(probe.type)} instead of ${String(p.fsType)}`);
  if (p.uuid !== null && !same(probe.uuid, p.uuid)) {
    problems.push(`UUID ${String(probe.uuid)} instead of ${p.uuid}`);
  }
  if ((p.label ?? '') !== (probe.label ?? '')) {
    problems.push(`label ${JSON.stringify(probe.label)} instead of ${JSON.stringify(p.label)}`);
  }
  const want = `${String(p.fsType)} uuid=${String(p.uuid)} label=${JSON.stringify(p.label)}`;
  return problems.length === 0
    ? { name, ok: true, detail: want }
    : { name, ok: false, detail: problems.join('; ') };
}

/**
 * Compares the inodes in use after extraction with the number recorded at backup. With
 * excludes the archive holds fewer files than the filesystem had: fewer is then expected,
 * more is still wrong.
 */
export function checkFileCount(
  p: ManifestPartition,
  restored: number,
  hadExcludes = false,
): RestoreCheck {
  const name = `${partitionTag(p)} file count`;
  if (p.fileCount === undefined)
    return { name, ok: true, detail: `${restored} (not recorded at backup)` };
  const ok = hadExcludes ? restored <= p.fileCount : restored === p.fileCount;
  const detail = `${restored} inodes in use after restore, ${p.fileCount} at backup`;
  return { name, ok, detail: hadExcludes ? `${detail} (excludes applied)` : detail };
}

/** What a restore may overwrite, decided from the target's path alone. */
export interface TargetRule {
  /** The VG and LV when the path is a Cinder volume LV, `/dev/<vg>/volume-<uuid>`. */
  lv: { vg: string; lv: string } | null;
}

const VOLUME_LV =
  /^\/dev\/([A-Za-z0-9+_.][A-Za-z0-9+_.-]*)\/(volume-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/**
 * A restore overwrites only `/dev/<vg>/volume-<uuid>` (a Cinder volume LV), of one of
 * `vgs` when they are given (the agent passes the VGs it serves); any other device only
 * with `force` (an operator by hand). Throws TARGET_REFUSED, before anything is opened.
 */
export function checkTargetPath(
  path: string,
  opts: { vgs?: readonly string[]; force?: boolean } = {},
): TargetRule {
  const m = VOLUME_LV.exec(path);
  const vg = m?.[1];
  const lv = m?.[2];
  if (vg !== undefined && lv !== undefined && vg !== '.' && vg !== '..') {
    if (opts.vgs === undefined || opts.vgs.includes(vg) || opts.force === true) {
      return { lv: { vg, lv } };
    }
    throw new AppError(
      'TARGET_REFUSED',
      `${path} is in VG ${vg}, which this node does not serve (${opts.vgs.join(', ')})`,
    );
  }
  if (opts.force === true) return { lv: null };
  throw new AppError(
    'TARGET_REFUSED',
    `${path} is not a Cinder volume LV (/dev/<vg>/volume-<uuid>); overwriting another device needs --force`,
  );
}

/**
 * Why the LV must not be overwritten, or null: it must be a plain or thin volume (not a
 * snapshot, pool or our own snapshot) that no one has open (6th lv_attr character `o`:
 * a mount, an iSCSI target serving it to an instance, a dd).
 */
export function lvTargetProblem(lv: { attr: string; kind: string } | null): string | null {
  if (lv === null) return 'LVM does not know it';
  if (lv.kind !== 'thick' && lv.kind !== 'thin') return `it is a ${lv.kind} LV, not a volume`;
  if (lv.attr.charAt(5) === 'o') return 'the LV is open (attached, mounted or in use)';
  return null;
}
