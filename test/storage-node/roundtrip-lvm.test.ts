/**
 * Round trips on real LVM in the storage-node guest, one boot for all cases (a boot
 * costs ~6-15 s and TCG makes everything inside several times slower): scenarios/roundtrip.sh
 * populates each volume, describes it with an independent walk, runs `backup --lv --json`
 * and `restore --json` through dist/cli.js, and compares. Needs `npm run build` first.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestUnavailableReason, PROJECT_ROOT, runInGuest, type GuestResult } from './guest.js';

const SCENARIO = 'test/storage-node/scenarios/roundtrip.sh';
let run: GuestResult | null = null;

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
  run = await runInGuest({
    command: ['bash', SCENARIO, 'gpt', 'plain', 'thin', 'fsmix', 'refuse'],
    disks: [4096],
    memMiB: 1024,
    timeoutSec: 2700,
    echo: process.env['CLB_GUEST_ECHO'] === '1',
  });
  console.log(
    `round-trip guest: ${(run.durationMs / 1000).toFixed(1)} s wall, exit ${run.exitCode}`,
  );
}, 2_800_000);

afterAll(() => {
  if (run !== null) rmSync(run.outDir, { recursive: true, force: true });
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
});
