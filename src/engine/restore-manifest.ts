/**
 * Reading a backup manifest for restore: the JSON is checked field by field before anything
 * is written to a target, and every file it names must be a plain name inside the backup's
 * directory. Pure: `validateManifest` takes parsed JSON.
 */
import { AppError } from '../errors.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MANIFEST_VERSION_INCREMENTAL,
  type ArchiveFile,
  type Manifest,
  type ManifestChain,
  type ManifestPartition,
  type VolumeIdentity,
} from './manifest.js';
import { isRecord } from '../is-record.js';
import { isValidBackupId } from './backup-id.js';

function invalid(message: string): AppError {
  return new AppError('MANIFEST_INVALID', message);
}

function nonNegativeInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} is not a non-negative integer`);
  }
  return value;
}

function stringOrNull(value: unknown, what: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw invalid(`${what} is not a string`);
  return value;
}

/** A file name the manifest may name: no directories, no dot names, nothing to escape with. */
export function isPlainFileName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && !name.includes('..');
}

function isArchiveFormat(v: unknown): v is ArchiveFile['format'] {
  return v === 'tar+zstd' || v === 'raw+zstd' || v === 'sql+zstd' || v === 'snar+zstd';
}

function archiveFile(value: unknown, what: string, snapshot = false): ArchiveFile {
  if (!isRecord(value)) throw invalid(`${what} is not an object`);
  const file = value['file'];
  if (typeof file !== 'string' || !isPlainFileName(file)) {
    throw invalid(`${what}.file is not a plain file name: ${JSON.stringify(file)}`);
  }
  const sha256 = value['sha256'];
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) {
    throw invalid(`${what}.sha256 is not a sha256 hex digest`);
  }
  const format = value['format'];
  const allowed: readonly unknown[] = snapshot ? ['snar+zstd'] : ['tar+zstd', 'raw+zstd'];
  if (!isArchiveFormat(format) || !allowed.includes(format)) {
    throw invalid(
      `${what}.format ${JSON.stringify(format)} is not ${snapshot ? 'snar+zstd' : 'tar+zstd or raw+zstd'}`,
    );
  }
  return {
    file,
    sha256,
    format,
    bytes: nonNegativeInteger(value['bytes'], `${what}.bytes`),
    uncompressedBytes: nonNegativeInteger(value['uncompressedBytes'], `${what}.uncompressedBytes`),
  };
}

function partition(value: unknown, i: number): ManifestPartition {
  const what = `partitions[${i}]`;
  if (!isRecord(value)) throw invalid(`${what} is not an object`);
  const action = value['action'];
  if (action !== 'archived' && action !== 'raw' && action !== 'skipped') {
    throw invalid(`${what}.action ${JSON.stringify(action)} is unknown`);
  }
  const number =
    value['number'] === null ? null : nonNegativeInteger(value['number'], `${what}.number`);
  const p: ManifestPartition = {
    number,
    startSector: nonNegativeInteger(value['startSector'], `${what}.startSector`),
    sizeBytes: nonNegativeInteger(value['sizeBytes'], `${what}.sizeBytes`),
    fsType: stringOrNull(value['fsType'], `${what}.fsType`),
    uuid: stringOrNull(value['uuid'], `${what}.uuid`),
    label: stringOrNull(value['label'], `${what}.label`),
    partUuid: stringOrNull(value['partUuid'], `${what}.partUuid`),
    partType: stringOrNull(value['partType'], `${what}.partType`),
    action,
  };
  if (typeof value['reason'] === 'string') p.reason = value['reason'];
  if (value['fileCount'] !== undefined) {
    p.fileCount = nonNegativeInteger(value['fileCount'], `${what}.fileCount`);
  }
  if (value['archive'] !== undefined && value['archive'] !== null) {
    p.archive = archiveFile(value['archive'], `${what}.archive`);
  }
  if (value['snapshotFile'] !== undefined && value['snapshotFile'] !== null) {
    if (action !== 'archived') throw invalid(`${what} is ${action} but has a snapshot file`);
    p.snapshotFile = archiveFile(value['snapshotFile'], `${what}.snapshotFile`, true);
  }
  if (action !== 'skipped' && p.archive === undefined) {
    throw invalid(`${what} is ${action} but names no archive`);
  }
  if (action === 'archived' && p.archive?.format !== 'tar+zstd') {
    throw invalid(`${what} is archived but its archive is not tar+zstd`);
  }
  if (action === 'raw' && p.archive?.format !== 'raw+zstd') {
    throw invalid(`${what} is raw but its archive is not raw+zstd`);
  }
  if (action === 'archived' && p.fsType === null) {
    throw invalid(`${what} is archived but has no filesystem type`);
  }
  return p;
}

function identity(value: unknown): VolumeIdentity {
  if (!isRecord(value)) throw invalid('chain.identity is not an object');
  const table = value['table'];
  if (table !== null && typeof table !== 'string') throw invalid('chain.identity.table');
  if (!Array.isArray(value['filesystems'])) throw invalid('chain.identity.filesystems');
  const filesystems = value['filesystems'].map((f: unknown, i) => {
    const what = `chain.identity.filesystems[${i}]`;
    if (!isRecord(f)) throw invalid(`${what} is not an object`);
    return {
      number: f['number'] === null ? null : nonNegativeInteger(f['number'], `${what}.number`),
      startSector: nonNegativeInteger(f['startSector'], `${what}.startSector`),
      sizeBytes: nonNegativeInteger(f['sizeBytes'], `${what}.sizeBytes`),
      fsType: stringOrNull(f['fsType'], `${what}.fsType`),
      uuid: stringOrNull(f['uuid'], `${what}.uuid`),
      fsSizeBytes:
        f['fsSizeBytes'] === null || f['fsSizeBytes'] === undefined
          ? null
          : nonNegativeInteger(f['fsSizeBytes'], `${what}.fsSizeBytes`),
    };
  });
  return {
    sizeBytes: nonNegativeInteger(value['sizeBytes'], 'chain.identity.sizeBytes'),
    table,
    filesystems,
  };
}

/** The chain record: ids that name sibling directories, a level that fits them. */
function chain(value: unknown, backupId: unknown): ManifestChain {
  if (!isRecord(value)) throw invalid('chain is not an object');
  const level = nonNegativeInteger(value['level'], 'chain.level');
  const parentId = value['parentId'];
  const rootId = value['rootId'];
  if (parentId !== null && !isValidBackupId(parentId)) {
    throw invalid(`chain.parentId ${JSON.stringify(parentId)} is not a backup id`);
  }
  if (!isValidBackupId(rootId))
    throw invalid(`chain.rootId ${JSON.stringify(rootId)} is not a backup id`);
  if ((level === 0) !== (parentId === null)) {
    throw invalid(`chain.level ${level} does not fit parent ${JSON.stringify(parentId)}`);
  }
  if (level === 0 && rootId !== backupId) throw invalid('a full backup is not its own chain root');
  if (level > 0 && (parentId === backupId || rootId === backupId)) {
    throw invalid('an incremental backup names itself as its parent or root');
  }
  const fullReason = stringOrNull(value['fullReason'], 'chain.fullReason');
  return { level, parentId, rootId, fullReason, identity: identity(value['identity']) };
}

/**
 * Checks parsed manifest JSON and returns it typed. Only what restore relies on is
 * checked strictly; other fields pass through as they are.
 */
export function validateManifest(doc: unknown): Manifest {
  if (!isRecord(doc)) throw invalid('the manifest is not a JSON object');
  if (doc['format'] !== MANIFEST_FORMAT) {
    throw invalid(`not a ${MANIFEST_FORMAT} manifest (format ${JSON.stringify(doc['format'])})`);
  }
  const version = doc['version'];
  if (version !== MANIFEST_VERSION && version !== MANIFEST_VERSION_INCREMENTAL) {
    throw invalid(`manifest version ${JSON.stringify(version)} is not supported`);
  }
  const chainRecord =
    doc['chain'] === undefined || doc['chain'] === null
      ? undefined
      : chain(doc['chain'], doc['backupId']);
  const incremental = chainRecord !== undefined && chainRecord.level > 0;
  if (incremental !== (version === MANIFEST_VERSION_INCREMENTAL)) {
    throw invalid(
      `manifest version ${version} does not fit chain level ${chainRecord?.level ?? 0}`,
    );
  }
  const source = doc['source'];
  if (!isRecord(source)) throw invalid('source is missing');
  nonNegativeInteger(source['sizeBytes'], 'source.sizeBytes');
  const table = doc['partitionTable'];
  if (!isRecord(table)) throw invalid('partitionTable is missing');
  const label = table['label'];
  if (label !== 'gpt' && label !== 'dos' && label !== 'none') {
    throw invalid(`partitionTable.label ${JSON.stringify(label)} is unknown`);
  }
  if (label !== 'none' && typeof table['sfdiskDump'] !== 'string') {
    throw invalid(`a ${label} table without its sfdisk dump`);
  }
  const head =
    doc['head'] === null || doc['head'] === undefined ? null : archiveFile(doc['head'], 'head');
  if (!Array.isArray(doc['partitions'])) throw invalid('partitions is not a list');
  const partitions = doc['partitions'].map((p, i) => partition(p, i));
  if (label === 'none' && (partitions.length !== 1 || partitions[0]?.number !== null)) {
    throw invalid(
      'a device without a partition table must have exactly one partition, number null',
    );
  }
  if (label !== 'none' && partitions.some((p) => p.number === null || p.number === 0)) {
    throw invalid('a partition of a table has no number');
  }
  const files = [
    head,
    ...partitions.flatMap((p) => [p.archive ?? null, p.snapshotFile ?? null]),
  ].filter((a) => a !== null);
  if (new Set(files.map((a) => a.file)).size !== files.length) {
    throw invalid('two parts of the manifest name the same archive file');
  }
  return {
    ...(doc as unknown as Manifest),
    head,
    partitions,
    ...(chainRecord === undefined ? {} : { chain: chainRecord }),
  };
}
