/**
 * The engine process killed at every step of a backup and of a restore, in the storage-node
 * guest (scenarios/agent-kill.sh, one boot): each kill provably lands at its step (the CLI
 * frozen there by the crash-test hook, lifecycle/step-pause.ts, and the node's state checked
 * while it is), then `reap` (what a restarting agent runs first) leaves nothing, the job
 * runs again and succeeds, and no unfinished directory or file ever counts as a backup.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../src/exec/run-command.js';
import { PROJECT_ROOT, runInGuest, type GuestResult } from '../guest.js';

/** A private build of the CLI (dist/ may be stale or mid-rebuild by someone else). */
const BUILD = join(PROJECT_ROOT, 'node_modules', '.cache', 'clb-agent-kill-guest');

const BACKUP_POINTS = [
  'snapshot',
  'kpartx',
  'mount:p1',
  'mount:p2',
  'archive:p1.tar.zst',
  'commit:p1.tar.zst',
  'cleanup:umount',
  'commit-dir',
];
const RESTORE_POINTS = ['mkfs:p1', 'extract:p1.tar.zst'];
const CHECKS = ['landed', 'no-backup', 'reaped-clean', 'rerun', 'clean-after-rerun'];
const caseName = (kind: string, point: string): string =>
  `kill-${kind}-${point.replace(/[:.]/g, '-')}`;
const EXPECTED = [
  ...BACKUP_POINTS.flatMap((p) => CHECKS.map((c) => `${caseName('backup', p)}-${c}`)),
  'backups-check-out',
  ...RESTORE_POINTS.flatMap((p) => CHECKS.map((c) => `${caseName('restore', p)}-${c}`)),
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
    command: ['bash', 'test/storage-node/scenarios/agent-kill.sh'],
    disks: [1024],
    memMiB: 1024,
    timeoutSec: 3000,
    env: { CLB_CLI: join(BUILD, 'cli.js') },
  });
  for (const m of run.stdout.matchAll(/^RESULT (\S+) (ok|fail)(?: (.*))?$/gm)) {
    results.set(m[1] as string, `${m[2]}${m[3] ? ` ${m[3]}` : ''}`);
  }
  const lines = run.stdout.split('\n').filter((l) => /^(== |agent-kill: |kill-\S+: )/.test(l));
  process.stderr.write(
    `agent-kill guest scenario: ${(run.durationMs / 1000).toFixed(1)} s wall\n${lines.join('\n')}\n`,
  );
}, 3_300_000);

afterAll(() => {
  if (run?.outDir) rmSync(run.outDir, { recursive: true, force: true });
});

describe('the engine killed at every step in the storage-node guest', () => {
  it('ran every step and printed its figures', () => {
    expect(run.exitCode, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    expect([...results.keys()], run.stdout.slice(-3000)).toEqual(EXPECTED);
    const n = BACKUP_POINTS.length + RESTORE_POINTS.length;
    expect(run.stdout).toContain(
      `agent-kill: ${n} steps (backup ${BACKUP_POINTS.join(',')}; restore ${RESTORE_POINTS.join(',')}), ${n} kills landed at their step, 0 leftovers, ${n} reruns succeeded`,
    );
  });

  it.each(EXPECTED)('%s', (name) => {
    const r = results.get(name) ?? 'missing';
    expect(r.startsWith('ok'), `${name}: ${r}`).toBe(true);
  });
});
