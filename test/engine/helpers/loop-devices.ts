/**
 * Loop devices and mounts a host test makes, remembered so that one call undoes them all
 * (mounts newest first, then each loop device with its kernel partitions).
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/**
 * Waits until no mount anywhere holds `dev`: a block device's exclusive open (O_EXCL) fails
 * with EBUSY while a filesystem on it is mounted. A test's mount is in the host's mount
 * namespace, and every engine run beside it (other test files) starts a private namespace
 * that copies the host's mounts: after our umount the filesystem can live on in that copy,
 * unflushed, until that run ends. An image read or copied meanwhile misses what was written
 * (seen: files of size 0, a directory without its files, in parallel runs).
 */
export async function waitUntilUnmountedEverywhere(
  dev: string,
  timeoutMs = 180_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(dev, constants.O_RDONLY | constants.O_EXCL);
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      if (Date.now() > deadline) {
        throw new Error(`${dev} is still mounted somewhere ${timeoutMs} ms after its umount`);
      }
      await sleep(100);
    }
  }
}

export class LoopDevices {
  private readonly loops: string[] = [];
  private readonly mounts: { dir: string; dev: string }[] = [];

  constructor(private readonly work: string) {}

  /** A sparse image of `sizeMiB` under the work directory, attached read-write. */
  async create(sizeMiB: number, name: string): Promise<string> {
    const file = join(this.work, `${name}.img`);
    await execa('truncate', ['-s', `${sizeMiB}M`, file]);
    const dev = (await execa('losetup', ['-f', '--show', file])).stdout.trim();
    this.loops.push(dev);
    return dev;
  }

  /** The image `create` made as `name`, attached once more (another loop device, its own number). */
  async attach(name: string): Promise<string> {
    const dev = (
      await execa('losetup', ['-f', '--show', join(this.work, `${name}.img`)])
    ).stdout.trim();
    this.loops.push(dev);
    return dev;
  }

  /** Detaches `dev` now (and forgets it, so that cleanup cannot detach a device reusing its number). */
  async detach(dev: string): Promise<void> {
    await execa('losetup', ['-d', dev]);
    this.loops.splice(this.loops.indexOf(dev), 1);
  }

  async mount(dev: string, dir: string, opts = 'rw'): Promise<void> {
    await execa('mkdir', ['-p', dir]);
    await execa('mount', ['-o', opts, dev, dir]);
    this.mounts.push({ dir, dev });
  }

  /** Unmounts `dir` and waits until its filesystem is gone everywhere (written back whole). */
  async umount(dir: string): Promise<void> {
    await execa('umount', [dir]);
    const i = this.mounts.findIndex((m) => m.dir === dir);
    // splice(-1, 1) would drop the newest mount instead of none.
    const [mount] = i < 0 ? [] : this.mounts.splice(i, 1);
    if (mount !== undefined) await waitUntilUnmountedEverywhere(mount.dev);
  }

  /** Undoes everything; never throws. */
  async cleanup(): Promise<void> {
    for (const { dir } of [...this.mounts].reverse()) {
      await execa('umount', [dir], { reject: false });
    }
    for (const dev of this.loops) {
      // Kernel partitions added with partx outlive the loop device unless deleted first.
      await execa('partx', ['--delete', dev], { reject: false });
      await execa('losetup', ['-d', dev], { reject: false });
    }
  }
}
