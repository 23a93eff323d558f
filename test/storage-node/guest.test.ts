import { createServer, type AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { guestArgs, guestUnavailableReason, PROJECT_ROOT, runInGuest } from './guest.js';

describe('guestArgs', () => {
  it('turns a run description into run-guest.sh options ending with the command', () => {
    const args = guestArgs(
      {
        command: ['bash', '-c', 'echo "a b"'],
        disks: [300, 64],
        memMiB: 512,
        timeoutSec: 60,
        env: { FOO: 'x y' },
        forwards: [{ guestPort: 5432, hostPort: 15432 }],
      },
      '/tmp/out',
    );
    expect(args).toEqual([
      '-d',
      '300',
      '-d',
      '64',
      '-m',
      '512',
      '-t',
      '60',
      '-e',
      'FOO=x y',
      '-f',
      '5432:15432',
      '-o',
      '/tmp/out',
      '-C',
      PROJECT_ROOT,
      '--',
      'bash',
      '-c',
      'echo "a b"',
    ]);
  });
});

describe('the storage-node guest', () => {
  const server = createServer((socket) => socket.end('hello-from-host\n'));
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('boots with LVM, the dm modules, no udev, /dev/fd, the project tree, a forward and /out', async () => {
    const reason = guestUnavailableReason();
    expect(reason, `cannot boot the guest: ${reason}`).toBeNull();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const hostPort = (server.address() as AddressInfo).port;
    const script = [
      'set -u',
      'echo "LVM:$(lvm version | head -1)"',
      'for m in dm_mod dm_snapshot dm_thin_pool loop ext4 xfs btrfs vfat; do',
      '  grep -q "^$m " /proc/modules && echo "MOD:$m"; done',
      'echo "UDEV_SYNC:$(lvmconfig --type full activation/udev_sync)"',
      'echo "DM_DISABLE_UDEV:$DM_DISABLE_UDEV"',
      '[ -L /dev/fd ] && echo "DEVFD:ok"',
      'test -f package.json && echo "CWD:$(pwd)"',
      'exec 3<>/dev/tcp/10.0.2.100/7000 && read -r line <&3 && echo "FORWARD:$line"',
      'echo written >/out/marker',
      'pvcreate -q /dev/vda && vgcreate -q smoke /dev/vda && lvcreate -q -y -L 8M -n lv smoke',
      '[ -b /dev/smoke/lv ] && echo "LV:ok"',
      'exit 7',
    ].join('\n');
    const run = await runInGuest({
      command: ['bash', '-c', script],
      disks: [64],
      memMiB: 512,
      timeoutSec: 180,
      forwards: [{ guestPort: 7000, hostPort }],
    });
    try {
      const out = run.stdout;
      expect(run.exitCode, out + run.stderr).toBe(7);
      expect(out).toMatch(/^LVM:\s*LVM version:\s+2\.\d+/m);
      for (const m of [
        'dm_mod',
        'dm_snapshot',
        'dm_thin_pool',
        'loop',
        'ext4',
        'xfs',
        'btrfs',
        'vfat',
      ])
        expect(out).toContain(`MOD:${m}\n`);
      expect(out).toContain('UDEV_SYNC:udev_sync=0');
      expect(out).toContain('DM_DISABLE_UDEV:1');
      expect(out).toContain('DEVFD:ok');
      expect(out).toContain(`CWD:${PROJECT_ROOT}`);
      expect(out).toContain('FORWARD:hello-from-host');
      expect(out).toContain('LV:ok');
      expect(readFileSync(join(run.outDir, 'marker'), 'utf8')).toBe('written\n');
      console.log(`guest smoke run: ${run.durationMs} ms wall`);
    } finally {
      rmSync(run.outDir, { recursive: true, force: true });
    }
  }, 240_000);
});
