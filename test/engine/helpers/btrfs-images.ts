/**
 * Btrfs images for the twin tests (issue 10 item 4): a single-device filesystem and its
 * block copy (the same fsid: "volumes made from one image"), and a filesystem spanning two
 * devices. Content is lines of a marker string, so that a test can look for one volume's
 * bytes in another's backup. Built with the system tools, never with the engine's code.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../../src/exec/run-command.js';
import { attach, detach } from './host-images.js';
import { waitUntilUnmountedEverywhere } from './loop-devices.js';

/** A marker no other file on this machine holds: `<what>-<random hex>`. */
export function marker(what: string): string {
  return `${what}-${randomBytes(12).toString('hex')}`;
}

/** About `bytes` of `mark` lines. */
export function markerText(mark: string, bytes = 1 << 20): string {
  return `${mark}\n`.repeat(Math.ceil(bytes / (mark.length + 1)));
}

/** Runs `fn` with `dev` mounted read-write at `dir`. */
export async function withMounted(
  dev: string,
  dir: string,
  fn: () => Promise<void>,
  options = 'rw',
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runCommand('mount', ['-t', 'btrfs', '-o', options, dev, dir]);
  try {
    await fn();
  } finally {
    await runCommand('umount', [dir]);
    await waitUntilUnmountedEverywhere(dev);
  }
}

/** The filesystem UUID (fsid) of a btrfs image or device, as blkid prints it. */
export async function fsidOf(path: string): Promise<string> {
  return (await runCommand('blkid', ['-p', '-s', 'UUID', '-o', 'value', path])).stdout.trim();
}

/** A 128 MiB image holding a single-device btrfs with data.txt of `mark` lines. */
export async function makeBtrfsImage(dir: string, name: string, mark: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const image = join(dir, `${name}.img`);
  await runCommand('truncate', ['-s', '128M', image]);
  await runCommand('mkfs.btrfs', ['-q', '-f', '-L', name, image]);
  const dev = await attach(image, false);
  try {
    await withMounted(dev, join(dir, `${name}-mnt`), () =>
      writeFile(join(dir, `${name}-mnt`, 'data.txt'), markerText(mark)),
    );
  } finally {
    await detach(dev);
  }
  return image;
}

/**
 * A btrfs over two images: `foreign` (devid 1, 256 MiB) and `own` (devid 2, 128 MiB), data
 * single, metadata raid1, holding foreign.bin of `foreignMark` lines. mkfs puts the first
 * data chunk on devid 1, so the file's bytes are on the foreign device only (the caller
 * checks). Both registrations are dropped again and the images detached.
 */
export async function makeTwoDeviceBtrfs(
  dir: string,
  foreignMark: string,
): Promise<{ own: string; foreign: string }> {
  await mkdir(dir, { recursive: true });
  const own = join(dir, 'own.img');
  const foreign = join(dir, 'foreign.img');
  await runCommand('truncate', ['-s', '128M', own]);
  await runCommand('truncate', ['-s', '256M', foreign]);
  const f = await attach(foreign, false);
  const o = await attach(own, false);
  try {
    await runCommand('mkfs.btrfs', ['-q', '-f', '-d', 'single', '-m', 'raid1', f, o]);
    const mnt = join(dir, 'two-mnt');
    await withMounted(
      o,
      mnt,
      async () => {
        await writeFile(join(mnt, 'foreign.bin'), markerText(foreignMark, 4 << 20));
        await runCommand('sync', ['-f', mnt]);
      },
      `rw,device=${f}`,
    );
  } finally {
    await runCommand('btrfs', ['device', 'scan', '--forget', f, o], { okExitCodes: [0, 1] });
    await detach(o);
    await detach(f);
  }
  return { own, foreign };
}
