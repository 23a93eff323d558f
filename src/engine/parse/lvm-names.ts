/**
 * LVM volume group and logical volume name rules (lvm(8), "VALID NAMES"), checked before
 * any name reaches an argument array or a path.
 */
import { AppError } from '../../errors.js';

/** LVM's limit on a VG or LV name (NAME_LEN 128, including the terminating NUL). */
export const MAX_LVM_NAME = 127;

const NAME_CHARS = /^[A-Za-z0-9+_.-]+$/;

/** LV name prefixes LVM reserves for itself. */
const RESERVED_LV_PREFIXES = ['snapshot', 'pvmove'];

/** Substrings LVM reserves for the sub-LVs of RAID, mirror, thin, cache, VDO and integrity. */
const RESERVED_LV_SUBSTRINGS = [
  '_cdata',
  '_cmeta',
  '_corig',
  '_cpool',
  '_cvol',
  '_iorig',
  '_imeta',
  '_mimage',
  '_mlog',
  '_pmspare',
  '_rimage',
  '_rmeta',
  '_tdata',
  '_tmeta',
  '_vdata',
  '_vorigin',
  '_wcorig',
];

/** Why `name` is not a valid VG name, or null when it is. */
export function vgNameProblem(name: string): string | null {
  return commonProblem(name);
}

/** Why `name` is not a valid LV name, or null when it is. */
export function lvNameProblem(name: string): string | null {
  const common = commonProblem(name);
  if (common !== null) return common;
  for (const prefix of RESERVED_LV_PREFIXES) {
    if (name.startsWith(prefix)) return `names starting with "${prefix}" are reserved by LVM`;
  }
  for (const sub of RESERVED_LV_SUBSTRINGS) {
    if (name.includes(sub)) return `names containing "${sub}" are reserved by LVM`;
  }
  return null;
}

function commonProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  if (name.length > MAX_LVM_NAME) return `the name is longer than ${MAX_LVM_NAME} characters`;
  if (!NAME_CHARS.test(name)) return 'only letters, digits and + _ . - are allowed';
  if (name.startsWith('-')) return 'the name may not start with "-"';
  if (name === '.' || name === '..') return 'the name may not be "." or ".."';
  return null;
}

/** Throws INVALID_LV_NAME unless `vg` is a valid VG name. */
export function assertVgName(vg: string): string {
  const problem = vgNameProblem(vg);
  if (problem !== null) {
    throw new AppError(
      'INVALID_LV_NAME',
      `invalid volume group name ${JSON.stringify(vg)}: ${problem}`,
    );
  }
  return vg;
}

/** Throws INVALID_LV_NAME unless `lv` is a valid LV name. */
export function assertLvName(lv: string): string {
  const problem = lvNameProblem(lv);
  if (problem !== null) {
    throw new AppError(
      'INVALID_LV_NAME',
      `invalid logical volume name ${JSON.stringify(lv)}: ${problem}`,
    );
  }
  return lv;
}

/** Splits and validates `VG/LV` (the form `--lv` takes). */
export function parseLvSpec(spec: string): { vg: string; lv: string } {
  const parts = spec.split('/');
  if (parts.length !== 2) {
    throw new AppError('INVALID_LV_NAME', `expected VG/LV, got ${JSON.stringify(spec)}`);
  }
  const [vg, lv] = parts as [string, string];
  return { vg: assertVgName(vg), lv: assertLvName(lv) };
}

/** The Cinder volume id in an LV named `volume-<uuid>`, or null. */
export function cinderVolumeId(lv: string): string | null {
  const m = /^volume-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(lv);
  return m ? (m[1] as string).toLowerCase() : null;
}

/**
 * The device-mapper name LVM gives `vg/lv`: each '-' inside either name is doubled and the
 * two are joined with a single '-' (so the split stays unambiguous).
 */
export function dmNameOf(vg: string, lv: string): string {
  return `${vg.replaceAll('-', '--')}-${lv.replaceAll('-', '--')}`;
}
