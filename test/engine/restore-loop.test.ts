/**
 * Restore onto loop devices on the host (loop devices and ext4/xfs mounts work here; no
 * device-mapper needed for a non-dm target). The backup is made by hand with tar, zstd and
 * sha256 (not by the engine), so restore is tested against the contract, not against
 * itself.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRunRoot } from '../../src/engine/run-dir.js';
import { AppError } from '../../src/errors.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type ArchiveFile,
  type Manifest,
} from '../../src/engine/manifest.js';
import { restoreBackup } from '../../src/engine/restore.js';
import { LoopDevices } from './helpers/loop-devices.js';

const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), 'clb-restore-loop-'));
const runDir = join(work, 'run');
const devices = new LoopDevices(work);
const loop = devices.create.bind(devices);
const mount = devices.mount.bind(devices);
const umount = devices.umount.bind(devices);

async function sh(program: string, args: string[], input?: string): Promise<string> {
  const r = await execa(program, args, input === undefined ? {} : { input });
  return r.stdout;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** zstd-compresses `input` (a file or stdin data) into `out`; returns the manifest entry. */
async function compress(
  out: string,
  format: ArchiveFile['format'],
  from: { file: string } | { tarOf: string },
): Promise<ArchiveFile> {
  let uncompressed: number;
  if ('file' in from) {
    await sh('zstd', ['-q', '-3', '-f', '-o', out, from.file]);
    uncompressed = readFileSync(from.file).length;
  } else {
    const tarFile = `${out}.tar`;
    await sh('tar', [
      '--create',
      `--file=${tarFile}`,
      '--format=posix',
      '--xattrs',
      '--xattrs-include=*',
      '--acls',
      '--numeric-owner',
      '--sparse',
      '--exclude=./lost+found',
      `--directory=${from.tarOf}`,
      '.',
    ]);
    await sh('zstd', ['-q', '-3', '-f', '--rm', '-o', out, tarFile]);
    uncompressed = Number(
      (await sh('zstd', ['-l', '-v', out])).match(/Decompressed Size:.*\((\d+) B\)/)?.[1],
    );
  }
  const name = out.split('/').pop() as string;
  return {
    file: name,
    bytes: readFileSync(out).length,
    sha256: sha256(out),
    format,
    uncompressedBytes: uncompressed,
  };
}

/** A tree with the things tar must carry: modes, owners, xattrs, links, a sparse file. */
async function populate(dir: string): Promise<void> {
  await sh('bash', [
    '-c',
    `set -e; cd "$1"
    mkdir -p "a dir/ü" deep/1/2/3
    printf hello > "a dir/ü/file one"
    head -c 200000 /dev/urandom > random.bin
    ln random.bin hard-link
    ln -s "a dir/ü/file one" sym
    truncate -s 20M sparse.bin; printf x | dd of=sparse.bin bs=1 seek=10000000 conv=notrunc status=none
    printf s > setuid && chown 4242:4343 setuid && chmod 4750 setuid
    printf x > xattr && setfattr -n user.note -v "a note" xattr
    printf a > acl && setfacl -m u:4242:rw acl
    touch -d '2002-02-02 02:02:02' deep/1/2/3`,
    'populate',
    dir,
  ]);
}

/**
 * The tree as text: enough to see owners, modes, links, xattrs, ACLs and contents. Any
 * failing step fails the walk (pipefail), and the attributes are listed file by file in
 * path order, so an attribute cannot move to another file unseen.
 */
async function describeTree(dir: string): Promise<string> {
  return sh('bash', [
    '-c',
    `set -euo pipefail
    cd "$1"
    find . -path ./lost+found -prune -o -printf '%p %y %#m %U:%G %s %l %n %T@\\n' | sed 's/\\.[0-9]*$//' | sort
    find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 sha256sum
    find . -path ./lost+found -prune -o -print0 | sort -z | xargs -0 getfattr -h -d -m - --`,
    'walk',
    dir,
  ]);
}

/** The block of getfattr lines for one file of a describeTree text. */
function attributesOf(tree: string, file: string): string {
  const start = tree.indexOf(`# file: ${file}\n`);
  if (start < 0) return '';
  const end = tree.indexOf('\n\n', start);
  return tree.slice(start, end < 0 ? undefined : end);
}

let manifestPath = '';
let sourceTree = '';
let rawImage = '';
let sourceDev = '';

function rawBytes(dev: string, offset: number, length: number): Buffer {
  const fd = readFileSync(dev, { flag: 'r' });
  return fd.subarray(offset, offset + length);
}

beforeAll(async () => {
  const probe = await execa('losetup', ['-f'], { reject: false });
  if (probe.exitCode !== 0) {
    throw new Error(`these tests need loop devices (root, losetup): ${probe.stderr}`);
  }
  // Source: GPT with an ext4 (label "data"), an xfs (label "logs") and a raw partition, and
  // no partition 2 (numbers must survive).
  sourceDev = await loop(410, 'source');
  const dump = [
    'label: gpt',
    'label-id: 0D5B6C83-1B5E-4B3C-9D64-2A1F7E1C0A01',
    'unit: sectors',
    'first-lba: 2048',
    'sector-size: 512',
    '',
    `${sourceDev}p1 : start=2048, size=204800, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=8D1C7A10-0000-4000-8000-000000000001, name="data"`,
    `${sourceDev}p3 : start=206848, size=614400, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=8D1C7A10-0000-4000-8000-000000000003, name="logs"`,
    `${sourceDev}p4 : start=821248, size=4096, type=21686148-6449-6E6F-744E-656564454649, uuid=8D1C7A10-0000-4000-8000-000000000004, name="bios"`,
  ].join('\n');
  await sh('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', sourceDev], dump + '\n');
  await sh('partx', ['--add', sourceDev]);
  const savedDump = await sh('sfdisk', ['--dump', sourceDev]);
  await sh('mkfs.ext4', [
    '-q',
    '-L',
    'data',
    '-U',
    'c0ffee00-1234-4567-89ab-0123456789ab',
    `${sourceDev}p1`,
  ]);
  await sh('mkfs.xfs', [
    '-q',
    '-L',
    'logs',
    '-m',
    'uuid=5a5a5a5a-0000-4000-8000-00000000abcd',
    `${sourceDev}p3`,
  ]);
  await sh('dd', [
    'if=/dev/urandom',
    `of=${sourceDev}p4`,
    'bs=1M',
    'count=2',
    'conv=nocreat',
    'status=none',
  ]);

  const backupDir = join(work, 'backup');
  await sh('mkdir', ['-p', backupDir]);
  await mount(`${sourceDev}p1`, join(work, 'src1'));
  await populate(join(work, 'src1'));
  sourceTree = await describeTree(join(work, 'src1'));
  // The comparison below means something only if the walk saw the attributes.
  expect(attributesOf(sourceTree, 'xattr')).toContain('user.note="a note"');
  expect(attributesOf(sourceTree, 'acl')).toContain('system.posix_acl_access=');
  expect(attributesOf(sourceTree, 'random.bin')).toBe('');
  const p1 = await compress(join(backupDir, 'p1.tar.zst'), 'tar+zstd', {
    tarOf: join(work, 'src1'),
  });
  const statfs = (await sh('stat', ['-f', '-c', '%c %d', join(work, 'src1')]))
    .split(' ')
    .map(Number);
  await umount(join(work, 'src1'));
  await mount(`${sourceDev}p3`, join(work, 'src3'));
  await sh('bash', [
    '-c',
    'mkdir -p "$1/log/app" && seq 1 5000 > "$1/log/app/app.log" && setfacl -m g:5000:r "$1/log/app/app.log"',
    'x',
    join(work, 'src3'),
  ]);
  const p3 = await compress(join(backupDir, 'p3.tar.zst'), 'tar+zstd', {
    tarOf: join(work, 'src3'),
  });
  await umount(join(work, 'src3'));
  rawImage = join(work, 'p4.img');
  await sh('dd', [`if=${sourceDev}p4`, `of=${rawImage}`, 'bs=1M', 'status=none']);
  const p4 = await compress(join(backupDir, 'p4.raw.zst'), 'raw+zstd', { file: rawImage });
  const headFile = join(work, 'head.bin');
  await sh('dd', [`if=${sourceDev}`, `of=${headFile}`, 'bs=1M', 'count=1', 'status=none']);
  const head = await compress(join(backupDir, 'head.bin.zst'), 'raw+zstd', { file: headFile });

  const part = (n: number, start: number, sizeSectors: number) => ({
    number: n,
    startSector: start,
    sizeBytes: sizeSectors * 512,
    partUuid: `8D1C7A10-0000-4000-8000-00000000000${n}`,
    partType: null,
  });
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backupId: '20261126T000000Z-0a0b0c0d',
    startedAt: '2026-11-26T00:00:00Z',
    finishedAt: '2026-11-26T00:00:01Z',
    source: {
      kind: 'device',
      device: sourceDev,
      vg: null,
      lv: null,
      volumeId: null,
      lvType: null,
      sizeBytes: 410 * MiB,
    },
    snapshot: null,
    partitionTable: { label: 'gpt', sfdiskDump: savedDump },
    head,
    partitions: [
      {
        ...part(1, 2048, 204800),
        fsType: 'ext4',
        uuid: 'c0ffee00-1234-4567-89ab-0123456789ab',
        label: 'data',
        action: 'archived',
        fileCount: (statfs[0] as number) - (statfs[1] as number),
        archive: p1,
      },
      {
        ...part(3, 206848, 614400),
        fsType: 'xfs',
        uuid: '5a5a5a5a-0000-4000-8000-00000000abcd',
        label: 'logs',
        action: 'archived',
        archive: p3,
      },
      {
        ...part(4, 821248, 4096),
        fsType: null,
        uuid: null,
        label: null,
        action: 'raw',
        reason: 'no filesystem found',
        archive: p4,
      },
    ],
    consistency: 'as-provided',
    compression: { program: 'zstd', level: 3, threads: 1 },
    excludes: [],
    tools: {},
    timings: {},
    totals: { archivedBytes: 0, storedBytes: 0, fileCount: 0 },
  };
  manifestPath = join(backupDir, 'manifest.json');
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  setRunRoot(runDir);
}, 120_000);

afterAll(async () => {
  await devices.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function ourMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(work));
}

describe('restoreBackup onto a loop device', () => {
  it('recreates the table, filesystems with their identity, the files and the raw partition on a larger target', async () => {
    const target = await loop(450, 'target');
    const result = await restoreBackup({ manifestPath, target, force: true });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual([
      'partition table',
      'p1 identity',
      'p1 file count',
      'p3 identity',
      'p3 file count',
      'p4 raw image',
    ]);
    // Independent checks: blkid, sfdisk, the tree, the raw bytes.
    const blkid = await sh('blkid', ['-p', '-o', 'export', `${target}p1`]);
    expect(blkid).toContain('UUID=c0ffee00-1234-4567-89ab-0123456789ab');
    expect(blkid).toContain('LABEL=data');
    const xfs = await sh('blkid', ['-p', '-o', 'export', `${target}p3`]);
    expect(xfs).toContain('UUID=5a5a5a5a-0000-4000-8000-00000000abcd');
    expect(xfs).toContain('LABEL=logs');
    const table = await sh('sfdisk', ['--dump', target]);
    expect(table).toContain('label-id: 0D5B6C83-1B5E-4B3C-9D64-2A1F7E1C0A01');
    expect(table).toContain(`${target}p4 : start=      821248, size=        4096`);
    expect(table).toContain('last-lba: 921566'); // sized for the 450 MiB target
    expect(Buffer.compare(rawBytes(`${target}p4`, 0, 4096 * 512), readFileSync(rawImage))).toBe(0);
    expect(Buffer.compare(rawBytes(target, 0, 440), rawBytes(sourceDev, 0, 440))).toBe(0);
    await mount(`${target}p1`, join(work, 'dst1'), 'ro');
    try {
      expect(await describeTree(join(work, 'dst1'))).toBe(sourceTree);
      const sparse = (await sh('stat', ['-c', '%b %B %s', join(work, 'dst1', 'sparse.bin')]))
        .split(' ')
        .map(Number);
      expect((sparse[0] as number) * (sparse[1] as number)).toBeLessThan(1 * MiB);
      expect(sparse[2]).toBe(20 * MiB);
    } finally {
      await umount(join(work, 'dst1'));
    }
    expect(ourMounts()).toEqual([]);
  }, 120_000);

  it('refuses a target smaller than the source and writes nothing', async () => {
    const target = await loop(300, 'small');
    await expect(restoreBackup({ manifestPath, target, force: true })).rejects.toMatchObject({
      code: 'TARGET_TOO_SMALL',
    });
    expect(await sh('blkid', ['-p', '-o', 'export', target]).catch(() => '')).toBe('');
  });

  it('refuses a target that is mounted', async () => {
    const target = await loop(450, 'mounted');
    await sh('mkfs.ext4', ['-q', target]);
    await mount(target, join(work, 'busy'));
    try {
      await expect(restoreBackup({ manifestPath, target, force: true })).rejects.toMatchObject({
        code: 'TARGET_IN_USE',
      });
    } finally {
      await umount(join(work, 'busy'));
    }
  });

  it('fails with CHECKSUM_MISMATCH on a corrupted archive and leaves nothing mounted', async () => {
    const corruptDir = join(work, 'corrupt');
    await sh('cp', ['-r', join(work, 'backup'), corruptDir]);
    const archive = join(corruptDir, 'p1.tar.zst');
    const bytes = readFileSync(archive);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0xff;
    writeFileSync(archive, bytes);
    const target = await loop(450, 'corrupt-target');
    const err: unknown = await restoreBackup({
      manifestPath: join(corruptDir, 'manifest.json'),
      target,
      force: true,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CHECKSUM_MISMATCH');
    expect(ourMounts()).toEqual([]);
  }, 120_000);

  it("fails when tar read other than the manifest's decompressed size, and leaves nothing mounted", async () => {
    const dir = join(work, 'miscounted');
    await sh('cp', ['-r', join(work, 'backup'), dir]);
    const path = join(dir, 'manifest.json');
    const doc = JSON.parse(readFileSync(path, 'utf8')) as {
      partitions: { archive?: { file: string; uncompressedBytes: number } }[];
    };
    const archive = doc.partitions.find((p) => p.archive?.file === 'p1.tar.zst')?.archive;
    if (archive === undefined) throw new Error('no p1.tar.zst in the manifest');
    // More than tar's 1 MiB record, so rounding to whole records cannot hide it.
    archive.uncompressedBytes += 2 * MiB;
    writeFileSync(path, JSON.stringify(doc));
    const target = await loop(450, 'miscounted-target');
    const err: unknown = await restoreBackup({ manifestPath: path, target, force: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('RESTORE_FAILED');
    expect((err as AppError).message).toMatch(/p1\.tar\.zst: tar read \d+ bytes/);
    expect(ourMounts()).toEqual([]);
  }, 120_000);

  it('stops when aborted mid-archive, unmounts and removes its directories', async () => {
    const target = await loop(450, 'aborted-target');
    const controller = new AbortController();
    const err: unknown = await restoreBackup({
      manifestPath,
      target,
      force: true,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'restore p1') controller.abort(new Error('test abort'));
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ABORTED');
    expect(ourMounts()).toEqual([]);
    expect(readdirSync(runDir)).toEqual([]);
  }, 120_000);
});
