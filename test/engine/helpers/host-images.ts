/**
 * Small disk images for host tests of `backup --device`: a GPT image (ext4 with an awkward
 * tree, a raw BIOS-boot partition, swap) and a table-less xfs image. Built with the system
 * tools directly; loop devices are tracked so afterAll can detach them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../../src/exec/run-command.js';
import { waitUntilUnmountedEverywhere } from './loop-devices.js';

const loops: string[] = [];

async function sh(program: string, args: string[], input?: string): Promise<string> {
  return (await runCommand(program, args, input === undefined ? {} : { input })).stdout;
}

/** Fails loudly when the host cannot run these tests. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('backup --device host tests need root (loop devices, mounts)');
  }
}

/** Attaches an image (read-write unless `readOnly`) and makes its partitions appear. */
export async function attach(image: string, readOnly: boolean): Promise<string> {
  const dev = (
    await sh('losetup', ['-f', '--show', '-P', ...(readOnly ? ['-r'] : []), image])
  ).trim();
  loops.push(dev);
  return dev;
}

/** Adds the kernel partitions of a loop device if the kernel did not scan them. */
export async function ensurePartitions(dev: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) {
    if (!existsSync(`${dev}p${n}`) || !sysfsHas(dev, n)) {
      await runCommand('partx', ['-a', '--nr', String(n), dev]);
    }
  }
}

function sysfsHas(dev: string, n: number): boolean {
  const base = dev.replace('/dev/', '');
  return existsSync(`/sys/class/block/${base}/${base}p${n}`);
}

export async function detach(dev: string): Promise<void> {
  const base = dev.replace('/dev/', '');
  const text = await readFile('/proc/partitions', 'utf8');
  for (const m of text.matchAll(new RegExp(`\\s${base}p(\\d+)$`, 'gm'))) {
    await runCommand('partx', ['-d', '--nr', m[1] as string, dev]).catch(() => undefined);
  }
  await runCommand('losetup', ['-d', dev]).catch(() => undefined);
  const i = loops.indexOf(dev);
  if (i >= 0) loops.splice(i, 1);
}

export async function detachAll(): Promise<void> {
  for (const dev of [...loops].reverse()) await detach(dev);
}

/** Populates a mounted filesystem with the kinds of files a backup must keep. */
export async function populateTree(root: string): Promise<void> {
  const script = `
set -e
cd "$1"
mkdir -p 'dir with spaces/deep/er/still/deeper' cache etc 'ünïcödé'
echo hello > 'dir with spaces/deep/er/still/deeper/leaf.txt'
echo 'unicode' > 'ünïcödé/файл.txt'
head -c 3000000 /dev/urandom > etc/random.bin
ln etc/random.bin etc/hardlink.bin
ln -s ../etc/random.bin 'dir with spaces/link-to-random'
truncate -s 30M sparse.img
printf 'tail' >> sparse.img
: > empty
echo junk > cache/junk.tmp
chown 1234:5678 etc/random.bin
chmod 0640 etc/random.bin
chmod 4755 'ünïcödé'
setfattr -n user.colour -v blue empty
setfacl -m u:4321:rwx 'dir with spaces'
setfacl -d -m g:99:rx 'dir with spaces'
# Times in the past (2001-02-03 04:05:06 UTC), on a file and, last, on directories.
touch -d @981173106 'dir with spaces/deep/er/still/deeper/leaf.txt'
touch -d @981173106 'dir with spaces/deep' 'ünïcödé'
`;
  await runCommand('bash', ['-c', script, 'populate', root]);
}

/** The modification time populateTree gives some files and directories (epoch seconds). */
export const PAST_MTIME = 981173106;

/**
 * An independent description of a tree (find, getfattr, getfacl, sha256sum: none of the
 * engine's code), one line per entry, sorted: path, type, mode, owner, size, link target,
 * link count, modification time (whole seconds; not for symlinks), then contents, xattrs
 * and ACLs. `skip` are top-level names left out.
 */
export async function describeTree(root: string, skip: string[] = []): Promise<string> {
  const prune = skip.flatMap((s) => ['-path', `./${s}`, '-prune', '-o']);
  const listing = await runCommand(
    'find',
    ['.', ...prune, '-printf', '%P|%y|%m|%U|%G|%s|%l|%n|%T@\\n'],
    { cwd: root },
  );
  const lines: string[] = [];
  for (const line of listing.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('|'))) {
    const fields = line.split('|');
    const [path, type] = fields as [string, string];
    // A directory's size is a property of the filesystem, not of the data.
    if (type === 'd') fields[5] = '-';
    // Whole seconds: what every filesystem here keeps. A symlink's own time is not data.
    fields[8] = type === 'l' ? '-' : String(Math.floor(Number(fields[8])));
    let extra = '';
    if (type === 'f') {
      extra += (await runCommand('sha256sum', ['--', path], { cwd: root })).stdout.split(' ')[0];
      const blocks = (
        await runCommand('stat', ['-c', '%b', '--', path], { cwd: root })
      ).stdout.trim();
      // Sparse files must stay sparse: record "sparse" when far fewer blocks than bytes.
      const size = Number(fields[5]);
      extra += Number(blocks) * 512 < size / 2 ? '|sparse' : '|dense';
    }
    if (type !== 'l') {
      const xattrs = await runCommand('getfattr', ['-h', '-d', '-m', '^user\\.', '--', path], {
        cwd: root,
        okExitCodes: [0, 1],
      });
      const acl = await runCommand('getfacl', ['-p', '-c', '-n', '--', path], { cwd: root });
      extra += `|${xattrs.stdout.replace(/^# file:.*\n/m, '').trim()}|${acl.stdout.trim().replace(/\n/g, ',')}`;
    }
    lines.push(`${fields.join('|')}|${extra}`);
  }
  return lines.sort().join('\n');
}

/** GPT image: p1 ext4 (label "my data", populated), p2 BIOS boot (random bytes), p3 swap. */
export async function makeGptImage(dir: string): Promise<{ image: string; tree: string }> {
  await mkdir(dir, { recursive: true });
  const image = join(dir, 'gpt.img');
  await sh('truncate', ['-s', '96M', image]);
  await sh(
    'sfdisk',
    ['-q', image],
    'label: gpt\nsize=56MiB, type=L, name="data"\nsize=4MiB, type=21686148-6449-6E6F-744E-656564454649\nsize=8MiB, type=S\n',
  );
  const dev = await attach(image, false);
  await ensurePartitions(dev, 3);
  await sh('mkfs.ext4', ['-q', '-L', 'my data', `${dev}p1`]);
  await sh('dd', [`if=/dev/urandom`, `of=${dev}p2`, 'bs=1M', 'count=4', 'status=none']);
  await sh('mkswap', [`${dev}p3`]);
  const mnt = join(dir, 'mnt');
  await mkdir(mnt, { recursive: true });
  await sh('mount', [`${dev}p1`, mnt]);
  try {
    await populateTree(mnt);
    return { image, tree: await describeTree(mnt, ['lost+found', 'cache']) };
  } finally {
    await sh('umount', [mnt]);
    await waitUntilUnmountedEverywhere(`${dev}p1`);
    await detach(dev);
  }
}

/** Table-less image holding xfs directly (label "whole"), populated. */
export async function makeXfsImage(dir: string): Promise<{ image: string; tree: string }> {
  await mkdir(dir, { recursive: true });
  const image = join(dir, 'xfs.img');
  await sh('truncate', ['-s', '320M', image]);
  await sh('mkfs.xfs', ['-q', '-L', 'whole', image]);
  const mnt = join(dir, 'xmnt');
  await mkdir(mnt, { recursive: true });
  const dev = await attach(image, false);
  await sh('mount', [dev, mnt]);
  try {
    await populateTree(mnt);
    return { image, tree: await describeTree(mnt, ['cache']) };
  } finally {
    await sh('umount', [mnt]);
    await waitUntilUnmountedEverywhere(dev);
    await detach(dev);
  }
}
