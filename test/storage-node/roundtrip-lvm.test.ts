/**
 * Round trips on real LVM in the storage-node guest, one boot for all cases (a boot
 * costs ~6-15 s and TCG makes everything inside several times slower): scenarios/roundtrip.sh
 * populates each volume, describes it with an independent walk, runs `backup --lv --json`
 * and `restore --json` through dist/cli.js, and compares. Needs `npm run build` first.
 * The same boot runs the consistency case: `backup --lv … --ssh … --mysqldump all --freeze
 * MOUNT` against an instance on this host (guest-instance.ts: sshd through the forward,
 * MariaDB, a loop-device filesystem to freeze); its dump, streamed out with `restore
 * --dump-to`, is loaded here into a fresh MariaDB database and compared with the source.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { sql, tableChecksums } from '../consistency/helpers/mariadb.js';
import { guestUnavailableReason, PROJECT_ROOT, runInGuest, type GuestResult } from './guest.js';
import { startGuestInstance, type GuestInstance } from './guest-instance.js';

const SCENARIO = 'test/storage-node/scenarios/roundtrip.sh';
let run: GuestResult | null = null;
let instance: GuestInstance | null = null;

function results(caseName: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of (run?.stdout ?? '').matchAll(
    new RegExp(`^RESULT ${caseName} (\\S+) (PASS|FAIL)(.*)$`, 'gm'),
  )) {
    out.set(m[1] as string, `${m[2] as string}${m[3] as string}`);
  }
  return out;
}

function times(caseName: string): string {
  return [...(run?.stdout ?? '').matchAll(new RegExp(`^TIME ${caseName} (\\S+) (\\S+)$`, 'gm'))]
    .map((m) => `${m[1] as string} ${m[2] as string} s`)
    .join(', ');
}

/** Every expected check ran and passed; on failure the console tail says why. */
function expectAllPass(caseName: string, expected: string[]): void {
  const got = results(caseName);
  const context = `guest console tail:\n${(run?.stdout ?? '').slice(-6000)}\n${run?.stderr ?? ''}`;
  for (const name of expected) {
    expect(
      got.get(name)?.split(' ')[0],
      `${caseName} ${name} (${got.get(name) ?? 'missing'})\n${context}`,
    ).toBe('PASS');
  }
  expect(
    [...got].filter(([, v]) => !v.startsWith('PASS')),
    context,
  ).toEqual([]);
  console.log(`${caseName}: ${times(caseName)}`);
}

beforeAll(async () => {
  const reason = guestUnavailableReason();
  if (reason !== null) throw new Error(`storage-node guest unavailable: ${reason}`);
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
  }
  instance = await startGuestInstance();
  run = await runInGuest({
    command: ['bash', SCENARIO, 'gpt', 'plain', 'thin', 'fsmix', 'refuse', 'consistency'],
    disks: [4096],
    memMiB: 1024,
    timeoutSec: 3000,
    env: instance.env,
    forwards: [instance.forward],
    echo: process.env['CLB_GUEST_ECHO'] === '1',
  });
  console.log(
    `round-trip guest: ${(run.durationMs / 1000).toFixed(1)} s wall, exit ${run.exitCode}`,
  );
}, 3_100_000);

afterAll(async () => {
  if (run !== null) rmSync(run.outDir, { recursive: true, force: true });
  await instance?.stop();
});

describe('round trips on LVM in the guest', () => {
  it('the scenario ran to its end', () => {
    expect(run?.exitCode, run?.stdout.slice(-3000)).toBe(0);
    expect(run?.stdout).toContain('ROUNDTRIP DONE');
  });

  it('restores a thick LV with GPT (ext4, xfs, raw) onto a larger LV: same table, UUIDs, labels, trees, raw bytes', () => {
    expectAllPass('gpt', [
      'backup',
      'restore',
      'leftovers',
      'table',
      'identity-p1',
      'tree-p1',
      'identity-p2',
      'tree-p2',
      'raw-p3',
      'negative-control',
    ]);
  });

  it('restores an LV with ext4 directly on it (no partition table)', () => {
    expectAllPass('plain', ['backup', 'restore', 'leftovers', 'identity', 'tree']);
  });

  it('restores a thin LV (MBR, ext4 + xfs) onto another thin LV without filling the pool', () => {
    expectAllPass('thin', [
      'backup',
      'restore',
      'leftovers',
      'table',
      'identity-p1',
      'tree-p1',
      'identity-p2',
      'tree-p2',
      'thin-allocation',
    ]);
  });

  it('restores vfat and btrfs with their identity and remakes swap with its UUID and label', () => {
    expectAllPass('fsmix', [
      'backup',
      'restore',
      'leftovers',
      'table',
      'identity-p1',
      'identity-p2',
      'identity-p3',
      'tree-p1',
      'tree-p2',
    ]);
  });

  it('refuses a corrupted archive, a smaller target and a target in use, leaving nothing behind, then restores the good backup onto that target', () => {
    expectAllPass('refuse', [
      'corrupt-archive',
      'leftovers',
      'corrupt-no-maps',
      'too-small',
      'in-use',
      'good-after-failures',
      'table',
      'identity-p1',
      'tree-p1',
    ]);
  });

  it('backs up with the instance made consistent over SSH (dump, freeze): application, dump checksummed, thawed, nothing left on either side', async () => {
    expectAllPass('consistency', [
      'tool-ssh',
      'tool-thin_check',
      'backup',
      'manifest-application',
      'freeze-window',
      'dump-in-sha256sums',
      'leftovers',
      'dump-to',
    ]);
    const figures = (run?.stdout ?? '').match(/^FIGURE consistency .*$/m)?.[0];
    console.log(figures ?? 'no consistency figures');
    const i = instance as GuestInstance;
    // Thawed (fsfreeze -u finds nothing frozen), and no thaw guard or dump still running.
    expect(await i.wasFrozen()).toBe(false);
    const ps = await runCommand('ps', ['-ww', '-eo', 'args']);
    expect(ps.stdout.split('\n').filter((l) => l.includes(i.freezeMount))).toEqual([]);
    expect(ps.stdout.split('\n').filter((l) => l.includes(i.db.optionFile))).toEqual([]);
    // The guest's SSH sessions reached this sshd through the forward, with the client key.
    expect(i.sshd.log()).toMatch(/Accepted publickey for root/);
    // The dump user's password reached neither the console nor the dump.
    expect(run?.stdout).not.toContain(i.db.password);
  });

  it('the dump streamed out of the backup restores into a fresh MariaDB database with identical content', async () => {
    const i = instance as GuestInstance;
    const file = join(run?.outDir ?? '', 'consistency-dump.sql');
    expect(existsSync(file), 'the guest wrote no /out/consistency-dump.sql').toBe(true);
    const dump = readFileSync(file, 'utf8');
    expect(dump).not.toContain(i.db.password);
    // `--mysqldump all` as the dump user dumps what it may see: the test database.
    expect(dump).toContain(`CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`${i.db.name}\``);
    const fresh = `${i.db.name}_guest`;
    await sql(`CREATE DATABASE ${fresh};`);
    try {
      // Into another database: without the dump's own CREATE DATABASE and USE lines.
      await sql(
        dump
          .replace(/^CREATE DATABASE .*$/gm, '')
          .replace(new RegExp(`^USE \`${i.db.name}\`;$`, 'gm'), ''),
        fresh,
      );
      const restored = await tableChecksums(fresh, 1e9);
      expect(restored).toEqual(await tableChecksums(i.db.name, 1e9));
      expect(Object.values(restored).every((v) => Number(v.split('\t')[0]) > 0)).toBe(true);
      // The trigger and the routine came along.
      expect(
        await sql(
          `SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${fresh}';`,
        ),
      ).toBe('1\n');
      expect(
        await sql(
          `SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${fresh}';`,
        ),
      ).toBe('1\n');
    } finally {
      await sql(`DROP DATABASE ${fresh};`);
    }
  });
});
