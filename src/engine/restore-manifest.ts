/**
 * Reading a backup manifest for restore: the JSON is checked field by field before anything
 * is written to a target, and every file it names must be a plain name inside the backup's
 * directory. Pure: `validateManifest` takes parsed JSON.
 */
import { AppError } from '../errors.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type ArchiveFile,
  type Manifest,
  type ManifestPartition,
} from './manifest.js';
import { isRecord } from '../is-record.js';

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

function archiveFile(value: unknown, what: string): ArchiveFile {
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
  if (format !== 'tar+zstd' && format !== 'raw+zstd') {
    throw invalid(`${what}.format ${JSON.stringify(format)} is not tar+zstd or raw+zstd`);
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

/**
 * Checks parsed manifest JSON and returns it typed. Only what restore relies on is
 * checked strictly; other fields pass through as they are.
 */
export function validateManifest(doc: unknown): Manifest {
  if (!isRecord(doc)) throw invalid('the manifest is not a JSON object');
  if (doc['format'] !== MANIFEST_FORMAT) {
    throw invalid(`not a ${MANIFEST_FORMAT} manifest (format ${JSON.stringify(doc['format'])})`);
  }
  if (doc['version'] !== MANIFEST_VERSION) {
    throw invalid(`manifest version ${JSON.stringify(doc['version'])} is not supported`);
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
  const files = [head, ...partitions.map((p) => p.archive ?? null)].filter((a) => a !== null);
  if (new Set(files.map((a) => a.file)).size !== files.length) {
    throw invalid('two parts of the manifest name the same archive file');
  }
  return { ...(doc as unknown as Manifest), head, partitions };
}
