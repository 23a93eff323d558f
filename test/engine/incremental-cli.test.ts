/**
 * Incremental backups by hand through the CLI (a child process, as an operator runs it):
 * `backup --device DEV --dest DIR --incremental` finds the newest good backup under DIR
 * (none at first: a full one, saying so), `--full` forces a new chain, `--json` reports the
 * level and parent; `restore --manifest` of the incremental restores the whole chain, and
 * `verify` checks it. The restored tree is compared with `diff -r` and file modes by find.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { LoopDevices } from './helpers/loop-devices.js';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'clb-incr-cli-'));
const devices = new LoopDevices(work);
const dest = join(work, 'dest');
let source = '';

async function cli(args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const r = await runCommand('npx', ['tsx', 'src/cli.ts', ...args, '--json'], {
    cwd: ROOT,
    okExitCodes: [0, 1, 2],
    env: { CLB_RUN_DIR: join(work, 'run') },
    timeoutMs: 300_000,
  });
  return { code: r.exitCode, json: JSON.parse(r.stdout || '{}') as Record<string, unknown> };
}

/** A listing independent of our code: path, type, mode and size of every entry. */
async function listing(dir: string): Promise<string> {
  const r = await execa('find', [
    dir,
    '-path',
    `${dir}/lost+found`,
    '-prune',
    '-o',
    '-printf',
    '%P %y %m %s\n',
  ]);
  return r.stdout.split('\n').sort().join('\n');
}

beforeAll(async () => {
  const probe = await execa('losetup', ['-f'], { reject: false });
  if (probe.exitCode !== 0)
    throw new Error(`these tests need loop devices (root): ${probe.stderr}`);
  source = await devices.create(64, 'source');
  await execa('mkfs.ext4', ['-q', '-L', 'cli', source]);
  const dir = join(work, 'edit');
  await devices.mount(source, dir);
  await writeFile(join(dir, 'kept.txt'), 'kept\n');
  await writeFile(join(dir, 'deleted.txt'), 'goes away\n');
  await devices.umount(dir);
}, 60_000);

afterAll(async () => {
  await devices.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('backup --incremental and restore of a chain by hand', () => {
  it('makes a full backup, then an incremental one, and restores the chain', async () => {
    const first = await cli(['backup', '--device', source, '--dest', dest, '--incremental']);
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ status: 'ok', level: 0, parentId: null });
    expect(first.json['fullReason']).toMatch(/^no earlier backup in /);

    const dir = join(work, 'edit');
    await devices.mount(source, dir);
    await rm(join(dir, 'deleted.txt'));
    await writeFile(join(dir, 'added.txt'), 'new\n');
    const expected = await listing(dir);
    await devices.umount(dir);

    const second = await cli(['backup', '--device', source, '--dest', dest, '--incremental']);
    expect(second.json).toMatchObject({
      status: 'ok',
      level: 1,
      parentId: first.json['backupId'],
      chainRootId: first.json['backupId'],
      fullReason: null,
    });

    const forced = await cli(['backup', '--device', source, '--dest', dest, '--full']);
    expect(forced.json).toMatchObject({ level: 0, fullReason: 'full backup forced (--full)' });
    const both = await cli([
      'backup',
      '--device',
      source,
      '--dest',
      dest,
      '--full',
      '--incremental',
    ]);
    expect(both.code).toBe(2);

    const verified = await cli(['verify', '--manifest', String(second.json['manifest'])]);
    expect(verified.json).toMatchObject({
      status: 'ok',
      chain: [first.json['backupId'], second.json['backupId']],
    });

    const target = await devices.create(64, 'target');
    const restored = await cli([
      'restore',
      '--manifest',
      String(second.json['manifest']),
      '--target',
      target,
      '--force',
    ]);
    expect(restored.json).toMatchObject({
      status: 'ok',
      chain: [first.json['backupId'], second.json['backupId']],
    });
    const out = join(work, 'restored');
    const orig = join(work, 'orig');
    await devices.mount(target, out, 'ro');
    await devices.mount(source, orig, 'ro,noload');
    try {
      expect(await listing(out)).toBe(expected);
      await execa('diff', ['-r', '--no-dereference', '-x', 'lost+found', orig, out]);
    } finally {
      await devices.umount(orig);
      await devices.umount(out);
    }
  }, 300_000);
});
