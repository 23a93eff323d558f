/**
 * ApplianceSession's protocol against a stand-in `guestfish` on PATH (a bash script that
 * reads command lines, answers `echo` with the decoded word, fails or hangs on request):
 * answers split at the marker, a failing command as ARCHIVE_FAILED with guestfish's stderr,
 * a command that never answers stopped with COMMAND_TIMEOUT. No VM is booted here; the real
 * appliance runs in appliance-backup.test.ts.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplianceSession } from '../../src/engine/appliance.js';

const FAKE = `#!/bin/bash
while IFS= read -r line; do
  case "$line" in
    run*) if [ "$FAKE_GUESTFISH" = hang ]; then exec sleep 600; fi ;;
    'echo '*) w=\${line#echo }; w=\${w#\\"}; w=\${w%\\"}; printf '%b\\n' "$w" ;;
    list-filesystems*) printf '/dev/sda1: ext4\\n/dev/sda2: unknown\\n' ;;
    vfs-label*) echo "label of $line" ;;
    fail*) echo '*stdin*:3: libguestfs: error: fail: nope' >&2; exit 1 ;;
    exit) exit 0 ;;
  esac
done
`;

let dir: string;
let savedPath: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clb-fake-guestfish-'));
  await writeFile(join(dir, 'guestfish'), FAKE);
  await chmod(join(dir, 'guestfish'), 0o755);
  savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
});

afterAll(async () => {
  process.env['PATH'] = savedPath;
  delete process.env['FAKE_GUESTFISH'];
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ApplianceSession', () => {
  it('returns what each command printed, up to its marker, in order', async () => {
    const s = ApplianceSession.start('/dev/null', { cwd: dir });
    try {
      expect(await s.command('run')).toEqual([]);
      const [a, b] = await Promise.all([
        s.command('list-filesystems'),
        s.command('vfs-label', ['/dev/sda1']),
      ]);
      expect(a).toEqual(['/dev/sda1: ext4', '/dev/sda2: unknown']);
      expect(b).toEqual(['label of vfs-label "/dev/sda1"']);
    } finally {
      await s.close();
    }
  });

  it('a failing command is ARCHIVE_FAILED with guestfish’s stderr; later ones fail too', async () => {
    const s = ApplianceSession.start('/dev/null', { cwd: dir });
    try {
      await expect(s.command('fail')).rejects.toMatchObject({
        code: 'ARCHIVE_FAILED',
        message: expect.stringMatching(/guestfish fail failed \(exit 1\): .*fail: nope/) as unknown,
      });
      await expect(s.command('list-filesystems')).rejects.toMatchObject({
        code: 'ARCHIVE_FAILED',
      });
    } finally {
      await s.close();
    }
  });

  it('a command that does not answer in time is COMMAND_TIMEOUT and guestfish is ended', async () => {
    process.env['FAKE_GUESTFISH'] = 'hang';
    const s = ApplianceSession.start('/dev/null', { cwd: dir });
    try {
      const started = Date.now();
      await expect(s.command('run', [], { timeoutMs: 1500 })).rejects.toMatchObject({
        code: 'COMMAND_TIMEOUT',
      });
      expect(Date.now() - started).toBeLessThan(10_000);
      // close() returns only once the process has ended.
      await s.close(5_000);
    } finally {
      delete process.env['FAKE_GUESTFISH'];
    }
  });
});
