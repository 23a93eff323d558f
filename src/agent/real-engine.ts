/**
 * The EnginePort of a real storage node: the engine's backupLv, verifyBackup, reap and
 * restoreBackup.
 */
import { backupLv } from '../engine/backup.js';
import { reap } from '../engine/reaper.js';
import { restoreBackup } from '../engine/restore.js';
import { verifyBackup } from '../engine/verify.js';
import type { EnginePort } from './engine-port.js';

export const realEngine: EnginePort = {
  backup: (req) => backupLv(req),
  verify: (req) => verifyBackup(req),
  restore: (req) => restoreBackup(req),
  reap: (req) => reap(req),
};
