/**
 * Parsers for `lvs` / `vgs --reportformat json --units b --nosuffix`. LVM prints every
 * value as a string; empty strings mean "not applicable" (e.g. snap_percent of a plain LV).
 */
import { AppError } from '../../errors.js';

/** Fields asked of `lvs`, in the order `lvsArgs` requests them. */
export const LVS_FIELDS = [
  'vg_name',
  'lv_name',
  'lv_attr',
  'lv_size',
  'origin',
  'pool_lv',
  'snap_percent',
  'data_percent',
  'metadata_percent',
  'lv_tags',
  'lv_path',
] as const;

export const VGS_FIELDS = ['vg_name', 'vg_size', 'vg_free', 'vg_extent_size'] as const;

export interface LvInfo {
  vg: string;
  name: string;
  attr: string;
  sizeBytes: number;
  origin: string | null;
  pool: string | null;
  snapPercent: number | null;
  dataPercent: number | null;
  metadataPercent: number | null;
  tags: string[];
  path: string | null;
}

export interface VgInfo {
  name: string;
  sizeBytes: number;
  freeBytes: number;
  extentBytes: number;
}

function reportRows(text: string, key: 'lv' | 'vg'): Record<string, unknown>[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new AppError('COMMAND_FAILED', `unparseable LVM JSON report: ${String(err)}`, {
      cause: err,
    });
  }
  const reports = (parsed as { report?: unknown }).report;
  if (!Array.isArray(reports)) {
    throw new AppError('COMMAND_FAILED', 'LVM JSON report has no "report" array');
  }
  const rows: Record<string, unknown>[] = [];
  for (const r of reports as Record<string, unknown>[]) {
    const list = r[key];
    if (Array.isArray(list)) rows.push(...(list as Record<string, unknown>[]));
  }
  return rows;
}

function str(row: Record<string, unknown>, field: string): string {
  const v = row[field];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function optStr(row: Record<string, unknown>, field: string): string | null {
  const v = str(row, field).trim();
  return v === '' ? null : v;
}

function bytes(row: Record<string, unknown>, field: string): number {
  // --units b --nosuffix gives an integer count of bytes; tolerate a trailing "B".
  const v = str(row, field).trim().replace(/B$/i, '');
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || n < 0) {
    throw new AppError('COMMAND_FAILED', `LVM report field ${field} is not a byte count: "${v}"`);
  }
  return Math.round(n);
}

function percent(row: Record<string, unknown>, field: string): number | null {
  const v = str(row, field).trim();
  if (v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Parses `lvs --reportformat json` output with the LVS_FIELDS columns. */
export function parseLvsJson(text: string): LvInfo[] {
  return reportRows(text, 'lv').map((row) => ({
    vg: str(row, 'vg_name'),
    name: str(row, 'lv_name'),
    attr: str(row, 'lv_attr'),
    sizeBytes: bytes(row, 'lv_size'),
    origin: optStr(row, 'origin'),
    pool: optStr(row, 'pool_lv'),
    snapPercent: percent(row, 'snap_percent'),
    dataPercent: percent(row, 'data_percent'),
    metadataPercent: percent(row, 'metadata_percent'),
    tags: str(row, 'lv_tags')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
    path: optStr(row, 'lv_path'),
  }));
}

/** Parses `vgs --reportformat json` output with the VGS_FIELDS columns. */
export function parseVgsJson(text: string): VgInfo[] {
  return reportRows(text, 'vg').map((row) => ({
    name: str(row, 'vg_name'),
    sizeBytes: bytes(row, 'vg_size'),
    freeBytes: bytes(row, 'vg_free'),
    extentBytes: bytes(row, 'vg_extent_size'),
  }));
}

/** What kind of LV an lv_attr string describes (lvs(8): 1st char is the volume type). */
export function lvKind(attr: string): 'thick' | 'thin' | 'thin-pool' | 'snapshot' | 'other' {
  const type = attr.charAt(0);
  // 'o'/'O': a thick LV that is the origin of snapshots (merging for 'O').
  if (type === '-' || type === 'o' || type === 'O') return 'thick';
  if (type === 'V') return 'thin';
  if (type === 't') return 'thin-pool';
  if (type === 's' || type === 'S') return 'snapshot';
  return 'other';
}

/**
 * Whether a snapshot is no longer usable: the 5th attr character (state) is `I` (invalid)
 * once the COW overflowed, and snap_percent reads 100.
 */
export function snapshotInvalid(lv: Pick<LvInfo, 'attr' | 'snapPercent'>): boolean {
  return lv.attr.charAt(4) === 'I' || (lv.snapPercent !== null && lv.snapPercent >= 100);
}

/** Whether the LV is active (5th attr character `a`). */
export function lvActive(attr: string): boolean {
  return attr.charAt(4) === 'a';
}
