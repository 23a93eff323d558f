/**
 * The btrfs superblock fields read before a mount, from images mkfs.btrfs makes (files,
 * no loop device needed), checked against blkid's reading of the same images.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BTRFS_SUPER_OFFSET,
  BTRFS_SUPER_READ,
  btrfsSuperRefusal,
  parseBtrfsSuper,
} from '../../../src/engine/parse/btrfs-super.js';

let work: string;

async function superOf(file: string): Promise<Buffer> {
  const h = await open(file, 'r');
  try {
    const buf = Buffer.alloc(BTRFS_SUPER_READ);
    await h.read(buf, 0, buf.length, BTRFS_SUPER_OFFSET);
    return buf;
  } finally {
    await h.close();
  }
}

async function blkidUuid(file: string): Promise<string> {
  const out = (await execa('blkid', ['-p', '-o', 'export', file])).stdout;
  return /^UUID=(.*)$/m.exec(out)?.[1] ?? '';
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'clb-btrfs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the btrfs superblock', () => {
  it('reads fsid, device count and devid of a one-device filesystem, which may be mounted', async () => {
    const one = join(work, 'one.img');
    await execa('truncate', ['-s', '160M', one]);
    await execa('mkfs.btrfs', ['-q', '-f', one]);
    const sb = parseBtrfsSuper(await superOf(one));
    expect(sb).toMatchObject({ fsid: await blkidUuid(one), numDevices: 1, devid: 1 });
    expect(btrfsSuperRefusal(sb)).toBeNull();
  });

  it('refuses each member of a two-device filesystem', async () => {
    const a = join(work, 'a.img');
    const b = join(work, 'b.img');
    await execa('truncate', ['-s', '160M', a, b]);
    await execa('mkfs.btrfs', ['-q', '-f', '-d', 'single', '-m', 'single', a, b]);
    const sa = parseBtrfsSuper(await superOf(a));
    const sb = parseBtrfsSuper(await superOf(b));
    expect(sa?.fsid).toBe(sb?.fsid);
    expect([sa?.devid, sb?.devid]).toEqual([1, 2]);
    expect(btrfsSuperRefusal(sa)).toMatch(/spans 2 devices/);
    expect(btrfsSuperRefusal(sb)).toMatch(/spans 2 devices/);
  });

  it('finds no btrfs where the magic is missing', () => {
    expect(parseBtrfsSuper(Buffer.alloc(BTRFS_SUPER_READ))).toBeNull();
    expect(parseBtrfsSuper(Buffer.alloc(10))).toBeNull();
    expect(btrfsSuperRefusal(null)).toMatch(/no superblock/);
  });
});
