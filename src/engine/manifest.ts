/**
 * The backup manifest: everything restore and verify need, written as `manifest.json` in
 * the backup's directory next to its archives and a `SHA256SUMS` file that `sha256sum -c`
 * accepts. File names in the manifest are relative to that directory and never contain '/'.
 */

export const MANIFEST_FORMAT = 'cinder-lvm-backup/manifest';
export const MANIFEST_VERSION = 1;
/**
 * Incremental backups (chain level > 0) are written as version 2, so that a reader that
 * knows nothing of chains refuses them instead of restoring one level as if it were whole.
 */
export const MANIFEST_VERSION_INCREMENTAL = 2;
export const MANIFEST_FILE = 'manifest.json';
export const CHECKSUM_FILE = 'SHA256SUMS';

import type { Level, StepOutcome } from '../policy/consistency-levels.js';

/**
 * How consistent the copy is known to be: `as-provided` for a frozen copy handed to us
 * (`backup --device` without steps in the instance), else a Level: `crash` (an LVM snapshot
 * of a volume in use: what a power cut would leave), `filesystem` (the instance's
 * filesystems were frozen around the snapshot), `application` (a database dump was taken
 * inside the instance and stored with the backup). Manifests written before the levels had
 * these names say `crash-consistent`.
 */
export type ConsistencyLevel = 'as-provided' | Level;

/** The database dump stored with a backup (`mysqldump.sql.zst`). */
/** Where a mysqldump with `--master-data=2` says the binlog stood. */
export interface BinlogPosition {
  file: string;
  position: number;
}

export interface ManifestDump extends ArchiveFile {
  /** `all`, or the databases dumped. */
  databases: 'all' | string[];
  durationMs: number;
  /** The server's binlog position at the dump's consistent point, when it was asked for. */
  binlog: BinlogPosition | null;
}

/** What was done inside the instance, and the level it reached. */
export interface ConsistencyReport {
  /** The level the request or policy demanded (a failure below it fails the backup). */
  demanded: Level;
  reached: Level;
  /** Why `reached` is below what the steps would give, or null. */
  reason: string | null;
  /** `user@host:port` the steps ran on. */
  target: string;
  steps: StepOutcome[];
  /** How long the filesystems were frozen, as seen from the storage node. */
  freezeWindowMs: number | null;
  mountpoints: string[];
}

export type PartitionAction = 'archived' | 'raw' | 'skipped';

/**
 * What the catalog knew of the volume when the backup ran, kept in the manifest so that a
 * lost catalog can be rebuilt from the destinations alone (`catalog rebuild`). The agent
 * fills it in; backups run by hand have none unless given, and manifests written before
 * it existed lack it (the field is optional, the manifest version unchanged).
 */
export interface ManifestCatalog {
  /** Cinder volume id. */
  volumeId: string;
  projectId: string | null;
  /** The volume's display name in Cinder. */
  volumeName: string | null;
  /** Cinder's `os-vol-host-attr:host` (`host@backend#pool`). */
  host: string | null;
  /** `host@backend`: the backend whose agents ran the backup. */
  backendHost: string | null;
  /** Size of the Cinder volume in GiB. */
  sizeGb: number | null;
  /** The agent that ran it. */
  node: string | null;
  /** Why it ran (the job's reason: schedule, manual, event:...). */
  reason: string | null;
  /** The volume's parsed backup policy at the time (volumes.policy), or null. */
  policy: Record<string, unknown> | null;
}

export interface ArchiveFile {
  /** File name inside the backup directory, e.g. `p1.tar.zst`. */
  file: string;
  /** Size of the file as stored. */
  bytes: number;
  /** sha256 (hex) of the file as stored. */
  sha256: string;
  /**
   * `tar+zstd` for filesystem archives, `raw+zstd` for raw partition images, `sql+zstd`
   * for a database dump taken inside the instance, `snar+zstd` for GNU tar's
   * listed-incremental snapshot file of a filesystem (the base of the next level).
   */
  format: 'tar+zstd' | 'raw+zstd' | 'sql+zstd' | 'snar+zstd';
  /** Bytes that went into the compressor (tar stream or raw image size). */
  uncompressedBytes: number;
}

export interface ManifestPartition {
  /** Partition number in the table (1-based), or null for a device with no partition table. */
  number: number | null;
  /** Start in 512-byte sectors from the start of the volume (0 for a whole device). */
  startSector: number;
  sizeBytes: number;
  /** blkid TYPE (ext4, xfs, btrfs, vfat, swap, …) or null when none was found. */
  fsType: string | null;
  uuid: string | null;
  label: string | null;
  /** GPT partition UUID / type, when the table has them (also in the sfdisk dump). */
  partUuid: string | null;
  partType: string | null;
  action: PartitionAction;
  /** Why a partition was skipped or kept raw (e.g. `swap`, `no mountable filesystem`). */
  reason?: string;
  /** Filesystem figures, for archived partitions. */
  usedBytes?: number;
  fsSizeBytes?: number;
  fileCount?: number;
  /** Options the read-only mount used. */
  mountOptions?: string[];
  archive?: ArchiveFile;
  /**
   * GNU tar's listed-incremental snapshot file after this backup (`p<n>.snar.zst`): what
   * the next level compares the filesystem against. Absent in backups made before chains.
   */
  snapshotFile?: ArchiveFile;
}

/**
 * What must not change under a chain: the volume's size, its partition table (device
 * names taken out) and each archived filesystem's partition, type, UUID and size. A
 * different identity (a new table, mkfs, a resize) starts a new full chain.
 */
export interface VolumeIdentity {
  sizeBytes: number;
  /** `sfdisk --dump` without the device names, or null for a device without a table. */
  table: string | null;
  filesystems: {
    number: number | null;
    startSector: number;
    sizeBytes: number;
    fsType: string | null;
    uuid: string | null;
    fsSizeBytes: number | null;
  }[];
}

/** Where a backup stands in its chain (full backup: level 0, no parent). */
export interface ManifestChain {
  /** 0 for a full backup, parent's level + 1 for an incremental one. */
  level: number;
  /** Backup id of the backup this one is incremental on (a sibling directory), or null. */
  parentId: string | null;
  /** Backup id of the chain's full backup (this backup's own id at level 0). */
  rootId: string;
  /** Why a level-0 backup is full (asked, forced, no parent, identity changed); null above 0. */
  fullReason: string | null;
  identity: VolumeIdentity;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION | typeof MANIFEST_VERSION_INCREMENTAL;
  /** Unique id of this backup; also the name of its directory. */
  backupId: string;
  startedAt: string;
  finishedAt: string;
  source: {
    kind: 'lv' | 'device';
    /** The device that was read (the snapshot for kind `lv`). */
    device: string;
    vg: string | null;
    lv: string | null;
    /** Cinder volume id when the LV is named `volume-<id>`. */
    volumeId: string | null;
    lvType: 'thick' | 'thin' | null;
    sizeBytes: number;
  };
  snapshot: {
    name: string;
    kind: 'thick' | 'thin';
    /** COW size for thick snapshots, null for thin. */
    sizeBytes: number | null;
    /** Highest snap_percent / data_percent seen, null when not reported. */
    peakPercent: number | null;
    tags: string[];
  } | null;
  partitionTable: {
    /** sfdisk label: gpt, dos, or none when the device holds a filesystem directly. */
    label: 'gpt' | 'dos' | 'none';
    /** `sfdisk --dump` output, verbatim. */
    sfdiskDump: string | null;
  };
  /** First MiB of the volume (boot code, table), compressed; null for kind `none` when absent. */
  head: ArchiveFile | null;
  partitions: ManifestPartition[];
  consistency: ConsistencyLevel;
  /** Present when steps inside the instance were asked for (SSH: dump, freeze). */
  consistencyReport?: ConsistencyReport;
  /** The database dump, when one was taken. */
  dump?: ManifestDump;
  compression: { program: 'zstd'; level: number; threads: number };
  excludes: string[];
  /** Versions of the programs that made the backup (tar, zstd, lvm, kernel, node, service). */
  tools: Record<string, string>;
  /**
   * Milliseconds per step (snapshot, map, mount, archive:<n>, check, cleanup, total), and
   * for an LV the snapshot's lifetime, lvcreate to lvremove (`snapshotLifetime`).
   */
  timings: Record<string, number>;
  totals: { archivedBytes: number; storedBytes: number; fileCount: number };
  /** The backup's place in its chain; absent in manifests written before chains. */
  chain?: ManifestChain;
  /**
   * `appliance` when the filesystems were probed, mounted and archived inside a libguestfs
   * appliance instead of this node's kernel (archive-appliance.ts); absent for host mode.
   */
  isolation?: 'appliance';
  /** Catalog facts for a rebuild; absent in older manifests and hand-run backups. */
  catalog?: ManifestCatalog;
}
