/**
 * The backup engine on real LVM, in the storage-node guest: thick and thin backups, bad
 * input, snapshot overflow while archiving, cancel through the abort signal, SIGKILL then
 * reap, a btrfs twin (same fsid) beside the volume. One guest boot runs the whole
 * scenario (scenarios/backup-lv-failures.sh); each RESULT line it prints is asserted here.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { PROJECT_ROOT, runInGuest, type GuestResult } from './guest.js';

/** A private build of the CLI (dist/ may be stale or mid-rebuild by someone else). */
const BUILD = join(PROJECT_ROOT, 'node_modules', '.cache', 'clb-engine-guest');

const EXPECTED = [
  'thick-backup',
  'thick-manifest',
  'thick-snapshot-lifetime',
  'thick-sha256sum',
  'thick-verify',
  'thick-clean',
  'thin-backup',
  'thin-clean',
  'thin-pool-full',
  'thin-pool-writes-kept',
  'thin-pool-space-back',
  'thin-pool-clean',
  'bad-name',
  'bad-name-no-shell',
  'missing-lv',
  'no-space',
  'no-space-clean',
  'dest-not-writable',
  'dest-not-writable-clean',
  'dest-full',
  'dest-full-clean',
  'dest-full-nothing-kept',
  'overflow',
  'overflow-no-archive',
  'overflow-clean',
  'early-overflow',
  'early-overflow-clean',
  'cancel-mid-archive',
  'cancel-aborted',
  'cancel-no-backup',
  'cancel-no-tar',
  'cancel-clean',
  'killed-left-something',
  'reap-status',
  'reap-kinds',
  'reap-spared-dmeventd',
  'reaped-clean',
  'backup-after-reap',
  'after-reap-clean',
  'btrfs-twin-mounted',
  'btrfs-twin-mounted-reason',
  'btrfs-twin-mounted-no-twin-bytes',
  'btrfs-twin-mount-untouched',
  'btrfs-twin-mounted-clean',
  'btrfs-twin-registered',
  'btrfs-twin-registered-ours',
  'btrfs-twin-registered-no-twin-bytes',
  'btrfs-twin-registered-clean',
];

let run: GuestResult;
const results = new Map<string, string>();

beforeAll(async () => {
  await runCommand('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', BUILD], {
    cwd: PROJECT_ROOT,
    okExitCodes: [0, 1, 2],
    timeoutMs: 180_000,
  });
  if (!existsSync(join(BUILD, 'cli.js'))) throw new Error(`building the CLI into ${BUILD} failed`);
  run = await runInGuest({
    command: ['bash', 'test/storage-node/scenarios/backup-lv-failures.sh'],
    disks: [2048, 1024],
    memMiB: 1024,
    timeoutSec: 2400,
    env: { CLB_CLI: join(BUILD, 'cli.js') },
  });
  for (const m of run.stdout.matchAll(/^RESULT (\S+) (ok|fail)(?: (.*))?$/gm)) {
    results.set(m[1] as string, `${m[2]}${m[3] ? ` ${m[3]}` : ''}`);
  }
  // Phase markers ("== [uptime] phase") and step timings, for the issue note.
  const phases = run.stdout.split('\n').filter((l) => /^== |backup: /.test(l));
  process.stderr.write(
    `backup-lv guest scenario: ${(run.durationMs / 1000).toFixed(1)} s wall\n${phases.join('\n')}\n`,
  );
}, 2_700_000);

afterAll(() => {
  // The scenario writes nothing to /out; the empty share is not worth keeping.
  if (run?.outDir) rmSync(run.outDir, { recursive: true, force: true });
});

describe('backup --lv in the storage-node guest', () => {
  it('ran the whole scenario', () => {
    expect(run.exitCode, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    expect([...results.keys()], run.stdout.slice(-3000)).toEqual(EXPECTED);
  });

  it.each(EXPECTED)('%s', (name) => {
    const r = results.get(name) ?? 'missing';
    expect(r.startsWith('ok'), `${name}: ${r}`).toBe(true);
  });
});
