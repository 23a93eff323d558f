/**
 * What the agent needs from the storage-node engine, as a small interface: the real
 * implementation (real-engine.ts) calls backupLv/verifyBackup/reap/restoreBackup; tests of
 * the queue may plug in one that does real but cheap work (writes files). The shapes follow
 * the engine's entry points (src/engine/backup.ts, verify.ts, reaper.ts, restore.ts).
 */
import type { ConsistencyRequest } from '../consistency/consistency-steps.js';
import type { Logger } from '../log.js';
import type { Manifest, ManifestCatalog } from '../engine/manifest.js';
import type { Progress } from '../engine/progress.js';
import type { LevelRequest } from '../engine/backup-chain.js';
import type { ArchiveBounds } from '../engine/archive-bounds.js';

export interface EngineBackupRequest {
  vg: string;
  lv: string;
  dest: string;
  runId: string;
  snapshotSize?: string;
  excludes?: string[];
  /** The SSH steps (dump, freeze) around the snapshot, when the policy asks for them. */
  consistency?: ConsistencyRequest;
  /** What the manifest records for a catalog rebuild. */
  catalog?: ManifestCatalog;
  /** Full, or incremental on the parent the agent chose from its catalog. */
  level?: LevelRequest;
  /** Time and byte bounds of the archive step (the agent's `[agent] archive_*`). */
  archiveBounds?: ArchiveBounds;
  /** `appliance`: filesystems read inside a libguestfs appliance (full backups only). */
  isolation?: 'host' | 'appliance';
  signal: AbortSignal;
  logger: Logger;
  onProgress?: (p: Progress) => void;
}

export interface EngineBackupResult {
  manifestPath: string;
  backupDir: string;
  manifest: Manifest;
}

export interface EngineVerifyResult {
  ok: boolean;
  archives: { file: string; ok: boolean; error?: string }[];
}

export interface EngineRestoreRequest {
  manifestPath: string;
  target: string;
  /** The VGs the target may be in: the one the job's host is served from. */
  vgs: readonly string[];
  signal: AbortSignal;
  logger: Logger;
  onProgress?: (p: Progress) => void;
}

export interface EngineRestoreResult {
  ok: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
}

export interface EngineReapResult {
  removed: {
    kind: 'process' | 'tempdir' | 'mount' | 'map' | 'snapshot' | 'dir';
    name: string;
  }[];
  errors: { name: string; message: string }[];
}

/** The engine operations the agent runs. */
export interface EnginePort {
  backup(req: EngineBackupRequest): Promise<EngineBackupResult>;
  verify(req: { manifestPath: string; signal: AbortSignal }): Promise<EngineVerifyResult>;
  restore(req: EngineRestoreRequest): Promise<EngineRestoreResult>;
  /** Removes what crashed runs left (snapshots, mappings, mounts, run directories). */
  reap(req: { logger: Logger; signal: AbortSignal }): Promise<EngineReapResult>;
}
