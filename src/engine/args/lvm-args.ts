/**
 * Argument arrays for LVM: reports, our snapshot's names and tags, create, activate,
 * remove. Every name here was validated (parse/lvm-names.ts) before it gets this far.
 */
import { LVS_FIELDS, VGS_FIELDS } from '../parse/lvs-report.js';

/** The LVM tag every snapshot of this service carries, so a reaper finds them after a crash. */
export const SERVICE_TAG = 'cinder_lvm_backup';

/** The tag naming the run that made a snapshot. */
export function runTag(runId: string): string {
  return `clb_run_${runId}`;
}

/** Our snapshot's LV name: never `volume-*`, `_snapshot-*` or `snapshot*`. */
export function snapshotLvName(runId: string): string {
  return `clb-${runId}`;
}

const REPORT = ['--reportformat', 'json', '--units', 'b', '--nosuffix'];

/** `lvs` for one LV (`vg/lv`) or, with no target, every LV. */
export function lvsArgs(target?: { vg: string; lv?: string }): string[] {
  const args = [...REPORT, '-a', '-o', LVS_FIELDS.join(',')];
  if (target) args.push(target.lv !== undefined ? `${target.vg}/${target.lv}` : target.vg);
  return args;
}

/** `vgs` for one VG. */
export function vgsArgs(vg: string): string[] {
  return [...REPORT, '-o', VGS_FIELDS.join(','), vg];
}

/** `lvcreate --snapshot` of vg/origin: thick with a COW size, thin without. */
export function lvcreateSnapshotArgs(opts: {
  vg: string;
  origin: string;
  name: string;
  tags: readonly string[];
  cowBytes: number | null;
}): string[] {
  return [
    '--yes',
    '--snapshot',
    ...(opts.cowBytes !== null ? ['--size', `${opts.cowBytes}b`] : []),
    '--name',
    opts.name,
    ...opts.tags.flatMap((t) => ['--addtag', t]),
    `${opts.vg}/${opts.origin}`,
  ];
}

/** Activates a thin snapshot despite its activation-skip flag (`-K`). */
export function lvchangeActivateArgs(vg: string, lv: string): string[] {
  return ['--activate', 'y', '--ignoreactivationskip', `${vg}/${lv}`];
}

/** Removes an LV without a prompt. */
export function lvremoveArgs(vg: string, lv: string): string[] {
  return ['--force', '--yes', `${vg}/${lv}`];
}
