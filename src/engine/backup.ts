/**
 * The backup engine's entry points (contract: notes/contracts.md): `backupLv` snapshots
 * and archives an LV, `backupDevice` archives a device that is already a frozen copy.
 */
import type { Logger } from '../log.js';
import type { BackupProgress } from './backup-run.js';

export { backupDevice } from './backup-device.js';
export { backupLv } from './backup-lv.js';
export type { BackupProgress, BackupResult } from './backup-run.js';

export interface BackupRequest {
  vg: string;
  lv: string;
  dest: string;
  snapshotSize?: string;
  excludes?: string[];
  runId?: string;
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (p: BackupProgress) => void;
}
