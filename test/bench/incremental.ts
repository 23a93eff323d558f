/**
 * Benchmark: an incremental backup against a full backup of the same state, in the same
 * run. A copy of the mixed-data ext4 image (≥ 1 GiB used) gets a full backup; then 1 % of
 * its files change (a line appended), a few are deleted and renamed and two directories
 * renamed; then, alternately, `backup --device --incremental` (level 1 on the full one)
 * and `backup --device --full` of that state. Measured: wall time, bytes the kernel read
 * from the device (/sys/block/<loop>/stat), bytes stored. Then the chain (full + level 1)
 * and the full backup of the same state are each restored to a fresh device and the two
 * trees, and the source's, are compared by lib.sh's clb_walk (find, sha256sum, getfattr,
 * getfacl): not our code comparing.
 *
 *   npm run build && npx tsx test/bench/incremental.ts [--reps 3] [--data-mib 1100]
 *
 * Needs root, loop devices, GNU time. Writes JSON under test/bench/results/.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  attachCopy,
  attachEmpty,
  benchRoot,
  bytesRead,
  cli,
  detach,
  machine,
  median,
  mixedImage,
  run,
  timed,
  usedMiB,
  writeResult,
} from './bench-volume.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    'data-mib': { type: 'string', default: '1100' },
    'change-percent': { type: 'string', default: '1' },
  },
});
const reps = Number(values.reps);
const dataMiB = Number(values['data-mib']);
const changePercent = Number(values['change-percent']);
const LIB = resolve(process.cwd(), 'test', 'storage-node', 'scenarios', 'lib.sh');
const mnt = join(benchRoot, 'mnt');

function walk(dev: string): string {
  mkdirSync(mnt, { recursive: true });
  run('mount', ['-o', 'ro,noload', dev, mnt]);
  try {
    return run('bash', ['-c', 'set -euo pipefail; . "$0"; clb_walk "$1"', LIB, mnt]);
  } finally {
    run('umount', [mnt]);
  }
}

/** Changes `percent` % of the regular files, deletes and renames a few, renames two dirs. */
function changeFiles(dev: string): Record<string, number> {
  mkdirSync(mnt, { recursive: true });
  run('mount', [dev, mnt]);
  try {
    const files = run('find', [
      mnt,
      '-path',
      `${mnt}/lost+found`,
      '-prune',
      '-o',
      '-type',
      'f',
      '-print0',
    ])
      .split('\0')
      .filter((f) => f !== '')
      .sort();
    const every = Math.max(1, Math.round(100 / changePercent));
    const changed = files.filter((_, i) => i % every === 0);
    for (const f of changed) run('bash', ['-c', 'printf "changed by the benchmark\\n" >>"$0"', f]);
    const untouched = files.filter((_, i) => i % every !== 0);
    const deleted = untouched.filter((_, i) => i % 997 === 1).slice(0, 20);
    for (const f of deleted) rmSync(f);
    const renamed = untouched.filter((_, i) => i % 991 === 2).slice(0, 20);
    for (const f of renamed) renameSync(f, `${f}.renamed`);
    const dirs = run('find', [mnt, '-mindepth', '3', '-maxdepth', '3', '-type', 'd', '-print0'])
      .split('\0')
      .filter((d) => d !== '')
      .sort()
      .slice(0, 2);
    for (const d of dirs) renameSync(d, `${d}-renamed`);
    return {
      files: files.length,
      changed: changed.length,
      deleted: deleted.length,
      renamed: renamed.length,
      renamedDirs: dirs.length,
      usedMiB: usedMiB(mnt),
    };
  } finally {
    run('umount', [mnt]);
  }
}

interface BackupSample {
  seconds: number;
  bytesRead: number;
  archivedBytes: number;
  storedBytes: number;
  maxRssKiB: number;
  level: number;
  manifest: string;
  backupDir: string;
}

function backup(dev: string, dest: string, flag: '--full' | '--incremental'): BackupSample {
  const before = bytesRead(dev);
  const t = timed(['node', cli, 'backup', '--device', dev, '--dest', dest, flag, '--json']);
  const read = bytesRead(dev) - before;
  const j = JSON.parse(t.stdout) as {
    manifest: string;
    backupDir: string;
    level: number;
    totals: { archivedBytes: number; storedBytes: number };
  };
  return {
    seconds: t.seconds,
    bytesRead: read,
    archivedBytes: j.totals.archivedBytes,
    storedBytes: j.totals.storedBytes,
    maxRssKiB: t.maxRssKiB,
    level: j.level,
    manifest: j.manifest,
    backupDir: j.backupDir,
  };
}

function restore(
  manifest: string,
  sizeBytes: number,
  name: string,
): { seconds: number; walk: string } {
  const target = attachEmpty(sizeBytes, name);
  try {
    const t = timed([
      'node',
      cli,
      'restore',
      '--manifest',
      manifest,
      '--target',
      target.dev,
      '--force',
      '--json',
    ]);
    const j = JSON.parse(t.stdout) as { status: string; chain: string[] };
    if (j.status !== 'ok') throw new Error(`restore of ${manifest} failed: ${t.stdout}`);
    return { seconds: t.seconds, walk: walk(target.dev) };
  } finally {
    detach(target);
  }
}

const fmt = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

function main(): void {
  const image = mixedImage(dataMiB);
  const m0 = machine();
  console.log(`load average ${m0.loadAverage.join(' ')} on ${m0.cpus} cores`);
  const out = join(benchRoot, 'incr-out');
  rmSync(out, { recursive: true, force: true });
  const destInc = join(out, 'chain');
  const destFull = join(out, 'full');
  const hold = join(out, 'hold');
  mkdirSync(hold, { recursive: true, mode: 0o700 });
  const src = attachCopy(image, 'incr-source');
  try {
    const sizeBytes = Number(run('blockdev', ['--getsize64', src.dev]).trim());
    const base = backup(src.dev, destInc, '--full');
    console.log(`base full backup: ${base.seconds.toFixed(2)} s, read ${fmt(base.bytesRead)}`);
    const changes = changeFiles(src.dev);
    console.log(`changed ${JSON.stringify(changes)}`);
    const source = walk(src.dev);

    const inc: BackupSample[] = [];
    const full: BackupSample[] = [];
    let keptInc: BackupSample | null = null;
    let keptFull: BackupSample | null = null;
    for (let i = 0; i < reps; i++) {
      // Alternate the order so neither always runs after the other.
      const order: ('inc' | 'full')[] = i % 2 === 0 ? ['inc', 'full'] : ['full', 'inc'];
      for (const which of order) {
        if (which === 'inc') {
          const s = backup(src.dev, destInc, '--incremental');
          if (s.level !== 1) throw new Error(`expected level 1, got ${s.level}`);
          inc.push(s);
          // Out of the way, so the next repetition is level 1 on the same full backup.
          if (keptInc === null) {
            renameSync(s.backupDir, join(hold, 'inc'));
            keptInc = s;
          } else rmSync(s.backupDir, { recursive: true });
        } else {
          const s = backup(src.dev, destFull, '--full');
          full.push(s);
          if (keptFull === null) keptFull = s;
          else rmSync(s.backupDir, { recursive: true });
        }
        const s = which === 'inc' ? inc[inc.length - 1] : full[full.length - 1];
        console.log(
          `rep ${i + 1} ${which === 'inc' ? 'incremental' : 'full       '} ${s?.seconds.toFixed(2)} s, read ${fmt(s?.bytesRead ?? 0)}, tar stream ${fmt(s?.archivedBytes ?? 0)}, stored ${fmt(s?.storedBytes ?? 0)}`,
        );
      }
    }
    if (keptInc === null || keptFull === null) throw new Error('no samples');
    renameSync(join(hold, 'inc'), keptInc.backupDir);

    const chainRestore = restore(keptInc.manifest, sizeBytes, 'incr-restore-chain');
    const fullRestore = restore(keptFull.manifest, sizeBytes, 'incr-restore-full');
    const chainEqualsFull = chainRestore.walk === fullRestore.walk;
    const chainEqualsSource = chainRestore.walk === source;

    const t = { inc: median(inc.map((s) => s.seconds)), full: median(full.map((s) => s.seconds)) };
    const r = {
      inc: median(inc.map((s) => s.bytesRead)),
      full: median(full.map((s) => s.bytesRead)),
    };
    const st = {
      inc: median(inc.map((s) => s.storedBytes)),
      full: median(full.map((s) => s.storedBytes)),
    };
    const m1 = machine();
    console.log(
      `\nmedians over ${reps} repetitions (load average now ${m1.loadAverage.join(' ')}):`,
    );
    console.log(
      `  full backup of the changed state: ${t.full.toFixed(2)} s, read ${fmt(r.full)}, stored ${fmt(st.full)}`,
    );
    console.log(
      `  incremental (level 1)           : ${t.inc.toFixed(2)} s, read ${fmt(r.inc)}, stored ${fmt(st.inc)}`,
    );
    console.log(
      `  wall time full / incremental    : ${(t.full / t.inc).toFixed(2)}x  (target >= 10x)`,
    );
    console.log(`  bytes read full / incremental   : ${(r.full / r.inc).toFixed(2)}x`);
    console.log(`  stored full / incremental       : ${(st.full / st.inc).toFixed(2)}x`);
    console.log(
      `  chain restore ${chainRestore.seconds.toFixed(2)} s, full restore ${fullRestore.seconds.toFixed(2)} s`,
    );
    console.log(
      `  chain restored == full backup restored (clb_walk): ${chainEqualsFull ? 'SAME' : 'DIFFERENT'}`,
    );
    console.log(
      `  chain restored == source (clb_walk)              : ${chainEqualsSource ? 'SAME' : 'DIFFERENT'}`,
    );
    writeResult('incremental', {
      command: `npx tsx test/bench/incremental.ts --reps ${reps} --data-mib ${dataMiB} --change-percent ${changePercent}`,
      machineBefore: m0,
      machineAfter: m1,
      changes,
      base: { seconds: base.seconds, bytesRead: base.bytesRead },
      incremental: inc.map(({ manifest: _m, backupDir: _d, ...s }) => s),
      full: full.map(({ manifest: _m, backupDir: _d, ...s }) => s),
      medians: { seconds: t, bytesRead: r, storedBytes: st },
      ratios: {
        wallTime: t.full / t.inc,
        bytesRead: r.full / r.inc,
        stored: st.full / st.inc,
      },
      target: { wallTime: 10, met: t.full / t.inc >= 10 },
      restore: {
        chainSeconds: chainRestore.seconds,
        fullSeconds: fullRestore.seconds,
        chainEqualsFull,
        chainEqualsSource,
      },
    });
    if (!chainEqualsFull || !chainEqualsSource) process.exitCode = 1;
  } finally {
    spawnSync('umount', [mnt]);
    detach(src);
  }
}

main();
