/**
 * The backup engine's entry points: `backupLv` snapshots and archives an LV, `backupDevice`
 * archives a device that is already a frozen copy.
 */
export { backupDevice, type DeviceBackupRequest } from './backup-device.js';
export { backupLv, type LvBackupRequest as BackupRequest } from './backup-lv.js';
export type { BackupResult } from './backup-frame.js';
export type { Progress } from './progress.js';
