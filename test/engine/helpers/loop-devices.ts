/**
 * Loop devices and mounts a host test makes, remembered so that one call undoes them all
 * (mounts newest first, then each loop device with its kernel partitions).
 */
import { join } from 'node:path';
import { execa } from 'execa';

export class LoopDevices {
  private readonly loops: string[] = [];
  private readonly mounts: string[] = [];

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
    this.mounts.push(dir);
  }

  async umount(dir: string): Promise<void> {
    await execa('umount', [dir]);
    this.mounts.splice(this.mounts.indexOf(dir), 1);
  }

  /** Undoes everything; never throws. */
  async cleanup(): Promise<void> {
    for (const dir of [...this.mounts].reverse()) await execa('umount', [dir], { reject: false });
    for (const dev of this.loops) {
      // Kernel partitions added with partx outlive the loop device unless deleted first.
      await execa('partx', ['--delete', dev], { reject: false });
      await execa('losetup', ['-d', dev], { reject: false });
    }
  }
}
