/**
 * Backup rows as an agent records them, with a manifest shaped as the engine writes it.
 */
import { recordBackupFailure, recordBackupSuccess, startBackup } from '../../src/db/backups.js';
import type { Queryable } from '../../src/db/queryable.js';
import type { Manifest } from '../../src/engine/manifest.js';

const sha = (c: string) => c.repeat(64);

/** A two-partition GPT volume: ext4 archived, swap skipped. */
export function sampleManifest(backupId: string, volumeId: string, sizeBytes: number): Manifest {
  return {
    format: 'cinder-lvm-backup/manifest',
    version: 1,
    backupId,
    startedAt: '2026-11-30T02:00:00.000Z',
    finishedAt: '2026-11-30T02:03:00.000Z',
    source: {
      kind: 'lv',
      device: `/dev/cinder-volumes/clb-${backupId}`,
      vg: 'cinder-volumes',
      lv: `volume-${volumeId}`,
      volumeId,
      lvType: 'thin',
      sizeBytes,
    },
    snapshot: { name: `clb-${backupId}`, kind: 'thin', sizeBytes: null, peakPercent: 3, tags: [] },
    partitionTable: { label: 'gpt', sfdiskDump: 'label: gpt\n' },
    head: {
      file: 'head.bin.zst',
      bytes: 812,
      sha256: sha('a'),
      format: 'raw+zstd',
      uncompressedBytes: 1_048_576,
    },
    partitions: [
      {
        number: 1,
        startSector: 2048,
        sizeBytes: sizeBytes - 1_048_576 * 257,
        fsType: 'ext4',
        uuid: '0b8d3e0c-59a1-4c2f-9f8e-1d2c3b4a5f60',
        label: 'root',
        partUuid: null,
        partType: null,
        action: 'archived',
        usedBytes: 300_000_000,
        fsSizeBytes: sizeBytes - 1_048_576 * 257,
        fileCount: 5120,
        archive: {
          file: 'p1.tar.zst',
          bytes: 120_000_000,
          sha256: sha('b'),
          format: 'tar+zstd',
          uncompressedBytes: 310_000_000,
        },
      },
      {
        number: 2,
        startSector: 1_000_000,
        sizeBytes: 268_435_456,
        fsType: 'swap',
        uuid: null,
        label: null,
        partUuid: null,
        partType: null,
        action: 'skipped',
        reason: 'swap',
      },
    ],
    consistency: 'crash',
    compression: { program: 'zstd', level: 3, threads: 2 },
    excludes: [],
    tools: { tar: '1.35' },
    timings: { total: 180_000 },
    totals: { archivedBytes: 310_000_000, storedBytes: 120_000_812, fileCount: 5120 },
  };
}

/** A succeeded backup of `volumeId`; returns its row id. */
export async function addGoodBackup(
  q: Queryable,
  volumeId: string,
  opts: { sizeBytes?: number; bytesStored?: number } = {},
): Promise<number> {
  const id = await startBackup(q, {
    volumeId,
    jobId: null,
    node: 'stor1-agent',
    reason: 'schedule',
  });
  const backupId = `20261130T020000Z-${id.toString(16).padStart(6, '0')}`;
  await recordBackupSuccess(q, id, {
    backupId,
    location: `/var/backups/cinder/volume-${volumeId}/${backupId}`,
    manifestPath: `/var/backups/cinder/volume-${volumeId}/${backupId}/manifest.json`,
    manifest: sampleManifest(backupId, volumeId, opts.sizeBytes ?? 1024 ** 3),
    bytesRead: 310_000_000,
    bytesWritten: opts.bytesStored ?? 120_000_812,
    throughputBytesPerS: 1_722_222,
    archives: [],
    consistency: 'crash',
    snapshotPeakPercent: 3,
  });
  return id;
}

/** A failed backup of `volumeId`; returns its row id. */
export async function addFailedBackup(
  q: Queryable,
  volumeId: string,
  code = 'SNAPSHOT_OVERFLOW',
): Promise<number> {
  const id = await startBackup(q, {
    volumeId,
    jobId: null,
    node: 'stor1-agent',
    reason: 'schedule',
  });
  await recordBackupFailure(q, id, { code, message: 'the snapshot filled up' });
  return id;
}
