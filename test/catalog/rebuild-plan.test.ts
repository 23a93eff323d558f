import { describe, expect, it } from 'vitest';
import {
  catalogOf,
  checkFiles,
  checkManifest,
  consistencyColumnsOf,
  REBUILT_REASON,
  rowsFromManifest,
} from '../../src/catalog/rebuild-plan.js';
import type { StepOutcome } from '../../src/policy/consistency-levels.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest } from '../../src/engine/manifest.js';

const ID = '20261201T101500Z-0a1b2c3d';
const VOL = '6a3f0c2e-1d4b-4c8a-9e7f-0123456789ab';
const HASH = 'a'.repeat(64);
const HEAD = 'b'.repeat(64);

function manifest(extra: Partial<Manifest> = {}): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backupId: ID,
    startedAt: '2026-12-01T10:15:00.000Z',
    finishedAt: '2026-12-01T10:16:40.000Z',
    source: {
      kind: 'lv',
      device: '/dev/cinder-volumes/clb-x',
      vg: 'cinder-volumes',
      lv: `volume-${VOL}`,
      volumeId: VOL,
      lvType: 'thick',
      sizeBytes: 3 * 1024 ** 3,
    },
    snapshot: null,
    partitionTable: { label: 'none', sfdiskDump: null },
    head: {
      file: 'head.bin.zst',
      bytes: 10,
      sha256: HEAD,
      format: 'raw+zstd',
      uncompressedBytes: 1,
    },
    partitions: [
      {
        number: null,
        startSector: 0,
        sizeBytes: 3 * 1024 ** 3,
        fsType: 'ext4',
        uuid: null,
        label: null,
        partUuid: null,
        partType: null,
        action: 'archived',
        archive: {
          file: 'p0.tar.zst',
          bytes: 20,
          sha256: HASH,
          format: 'tar+zstd',
          uncompressedBytes: 50,
        },
      },
    ],
    consistency: 'crash',
    compression: { program: 'zstd', level: 3, threads: 2 },
    excludes: [],
    tools: {},
    timings: { total: 50_000 },
    totals: { archivedBytes: 50, storedBytes: 30, fileCount: 3 },
    ...extra,
  };
}

const SUMS = `${HEAD}  head.bin.zst\n${HASH}  p0.tar.zst\n`;

describe('checkManifest', () => {
  it('accepts a manifest named like its directory whose SHA256SUMS lists exactly its files', () => {
    const r = checkManifest(ID, JSON.stringify(manifest()), SUMS);
    expect('manifest' in r && r.manifest.backupId).toBe(ID);
  });

  it('keeps the document as written, fields a restore does not read included', () => {
    const written = manifest();
    (written.partitions[0] as unknown as Record<string, unknown>)['usedBytes'] = 4096;
    const r = checkManifest(ID, JSON.stringify(written), SUMS);
    expect('document' in r && r.document).toEqual(JSON.parse(JSON.stringify(written)));
    expect('manifest' in r && r.manifest.partitions[0]).not.toHaveProperty('usedBytes');
  });

  it('names each way a backup fails to verify', () => {
    const text = JSON.stringify(manifest());
    expect(checkManifest(ID, '{', SUMS)).toMatchObject({ reason: /^manifest invalid/ });
    expect(checkManifest('20261201T101500Z-ffffffff', text, SUMS)).toEqual({
      reason: `manifest backupId "${ID}" does not name its directory`,
    });
    expect(checkManifest(ID, text, `${HASH}  p0.tar.zst\n`)).toEqual({
      reason: 'SHA256SUMS has no line for head.bin.zst',
    });
    expect(checkManifest(ID, text, `${HEAD}  head.bin.zst\n${HEAD}  p0.tar.zst\n`)).toEqual({
      reason: 'SHA256SUMS and the manifest disagree on p0.tar.zst',
    });
    expect(checkManifest(ID, text, `${SUMS}${HASH}  extra.zst\n`)).toEqual({
      reason: 'SHA256SUMS lists extra.zst, which the manifest does not',
    });
    expect(
      checkManifest(ID, JSON.stringify(manifest({ finishedAt: '2026-12-01T10:00:00Z' })), SUMS),
    ).toEqual({ reason: 'manifest times are missing or out of order' });
    expect(
      checkManifest(
        ID,
        JSON.stringify(manifest({ totals: { archivedBytes: -1, storedBytes: 1, fileCount: 0 } })),
        SUMS,
      ),
    ).toEqual({ reason: 'manifest totals are missing or not byte counts' });
  });

  it('refuses a backup id that could name another path', () => {
    const bad = '../../etc';
    expect(checkManifest(bad, JSON.stringify(manifest({ backupId: bad })), SUMS)).toEqual({
      reason: `manifest backupId "${bad}" does not name its directory`,
    });
  });
});

describe('checkFiles', () => {
  it('wants every file read and matching', () => {
    const files = manifest()
      .partitions.map((p) => p.archive)
      .filter((a) => a !== undefined);
    expect(checkFiles(files, new Map([['p0.tar.zst', HASH]]))).toBeNull();
    expect(checkFiles(files, new Map([['p0.tar.zst', HEAD]]))).toBe(
      'p0.tar.zst does not match its checksum',
    );
    expect(checkFiles(files, new Map([['p0.tar.zst', { error: 'ENOENT' }]]))).toBe(
      'p0.tar.zst: ENOENT',
    );
    expect(checkFiles(files, new Map())).toBe('p0.tar.zst was not read');
  });
});

describe('rowsFromManifest', () => {
  const dir = `/backups/volume-${VOL}/${ID}`;

  it('takes volume, project, host, policy, node and reason from the catalog facts', () => {
    const policy = { retention: { keepLast: 3 } };
    const m = manifest({
      catalog: {
        volumeId: VOL.toUpperCase(),
        projectId: 'p1',
        volumeName: 'db',
        host: 'node1@lvm#pool',
        backendHost: 'node1@lvm',
        sizeGb: 3,
        node: 'node1@lvm/agent',
        reason: 'schedule',
        policy,
      },
    });
    const r = rowsFromManifest(m, dir, `${dir}/manifest.json`, null);
    expect(r).toMatchObject({
      volume: {
        id: VOL,
        name: 'db',
        projectId: 'p1',
        host: 'node1@lvm#pool',
        backendHost: 'node1@lvm',
        lvName: `volume-${VOL}`,
        sizeGb: 3,
        policy,
      },
      backup: {
        volumeId: VOL,
        backupId: ID,
        node: 'node1@lvm/agent',
        reason: 'schedule',
        bytesRead: 50,
        bytesWritten: 30,
        throughputBytesPerS: 1,
        location: dir,
        consistency: 'crash',
        snapshotPeakPercent: null,
        backendHost: 'node1@lvm',
        consistencyLevel: 'crash',
        consistencyDemanded: null,
        consistencySteps: [],
        consistencyReason: null,
        freezeWindowMs: null,
        dumpBytes: null,
      },
    });
    if ('backup' in r) {
      expect(r.backup.startedAt.toISOString()).toBe('2026-12-01T10:15:00.000Z');
      expect(r.backup.archives.map((a) => a.location)).toEqual([
        `${dir}/head.bin.zst`,
        `${dir}/p0.tar.zst`,
      ]);
    }
  });

  it('keeps an older manifest readable: volume from the LV name, the given host, no project', () => {
    const r = rowsFromManifest(manifest(), dir, `${dir}/manifest.json`, 'node9@lvm');
    expect(r).toMatchObject({
      volume: { id: VOL, projectId: null, backendHost: 'node9@lvm', sizeGb: 3, policy: null },
      backup: { reason: REBUILT_REASON, node: null, backendHost: 'node9@lvm' },
    });
  });

  it('records the consistency columns as the agent does: from the report, else crash', () => {
    const steps: StepOutcome[] = [{ step: 'fsfreeze', ok: true, durationMs: 120 }];
    const m = manifest({
      consistency: 'application',
      consistencyReport: {
        demanded: 'application',
        reached: 'filesystem',
        reason: 'mysqldump failed: access denied',
        target: 'root@10.0.0.5:22',
        steps,
        freezeWindowMs: 340,
        mountpoints: ['/'],
      },
      dump: {
        file: 'mysqldump.sql.zst',
        bytes: 4096,
        sha256: HASH,
        format: 'sql+zstd',
        uncompressedBytes: 9000,
        databases: 'all',
        durationMs: 50,
        binlog: null,
      },
    });
    expect(consistencyColumnsOf(m)).toEqual({
      consistencyLevel: 'filesystem',
      consistencyDemanded: 'application',
      consistencySteps: steps,
      consistencyReason: 'mysqldump failed: access denied',
      freezeWindowMs: 340,
      dumpBytes: 4096,
    });
    // A manifest from before the levels, and a frozen copy given by hand.
    const legacy = manifest();
    (legacy as { consistency: string }).consistency = 'crash-consistent';
    expect(consistencyColumnsOf(legacy)).toMatchObject({
      consistencyLevel: 'crash',
      consistencyDemanded: 'crash',
    });
    expect(consistencyColumnsOf(manifest({ consistency: 'as-provided' }))).toMatchObject({
      consistencyLevel: null,
      consistencyDemanded: null,
    });
    // What the file holds is not trusted: odd types are dropped.
    const odd = manifest();
    (odd as { consistencyReport?: unknown }).consistencyReport = {
      reached: 'total',
      demanded: 7,
      steps: 'all',
      reason: 42,
      freezeWindowMs: -1,
    };
    expect(consistencyColumnsOf(odd)).toEqual({
      consistencyLevel: 'crash',
      consistencyDemanded: null,
      consistencySteps: [],
      consistencyReason: null,
      freezeWindowMs: null,
      dumpBytes: null,
    });
  });

  it('makes no row for a backup that names no volume', () => {
    const m = manifest({
      source: { ...manifest().source, kind: 'device', lv: null, vg: null, volumeId: null },
    });
    expect(rowsFromManifest(m, dir, `${dir}/manifest.json`, null)).toEqual({
      reason: 'the manifest names no Cinder volume',
    });
  });

  it('does not trust catalog fields: bad ids, control characters and odd types are dropped', () => {
    const m = manifest();
    (m as { catalog?: unknown }).catalog = {
      volumeId: "x'; DROP TABLE backups; --",
      projectId: 'p1',
    };
    expect(catalogOf(m)).toBeNull();
    (m as { catalog?: unknown }).catalog = {
      volumeId: VOL,
      projectId: 'p\n1',
      sizeGb: -4,
      policy: ['not', 'a', 'record'],
      node: 42,
    };
    expect(catalogOf(m)).toMatchObject({ projectId: null, sizeGb: null, policy: null, node: null });
  });
});
