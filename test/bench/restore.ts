/**
 * Benchmark: our restore of a backup onto a fresh device against the manual procedure
 * (`sha1sum -c` of the archive, `mkfs.ext4`, mount, `tar xzf`, sync, umount), in the same
 * run, from the same mixed-data ext4 image (≥ 1 GiB used): the manual archive made as the
 * manual page says (`tar --exclude=lost+found -czf` + `sha1sum`) plus `--sparse` (without
 * it the image's sparse file does not fit back), ours by `backup --device`. Each repetition restores onto a new sparse image of the volume's size.
 * Both results are compared with the source by lib.sh's clb_walk contents section
 * (sha256 of every file), so a fast but wrong restore cannot win.
 *
 *   npm run build && npx tsx test/bench/restore.ts [--reps 3] [--data-mib 1100]
 *
 * Needs root, loop devices, GNU time. Writes JSON under test/bench/results/.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  attachEmpty,
  benchRoot,
  cli,
  detach,
  machine,
  median,
  mixedImage,
  run,
  timed,
  writeResult,
} from './bench-volume.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    'data-mib': { type: 'string', default: '1100' },
  },
});
const reps = Number(values.reps);
const dataMiB = Number(values['data-mib']);
const LIB = resolve(process.cwd(), 'test', 'storage-node', 'scenarios', 'lib.sh');
const mnt = join(benchRoot, 'mnt');

/** sha256 of every file, from lib.sh's walk (its `# contents` section). */
function contents(dev: string, options: string): string {
  mkdirSync(mnt, { recursive: true });
  run('mount', ['-o', options, dev, mnt]);
  try {
    const w = run('bash', ['-c', 'set -euo pipefail; . "$0"; clb_walk "$1"', LIB, mnt]);
    return w.slice(w.indexOf('# contents'), w.indexOf('# sparse files'));
  } finally {
    run('umount', [mnt]);
  }
}

// The manual page: check the archive's sha1, make the filesystem, extract, flush, unmount.
const MANUAL =
  'set -e; cd "$3"; sha1sum -c --quiet backup.tgz.sha1; mkfs.ext4 -q -F "$1"; mount "$1" "$2"; tar -xzf "$3/backup.tgz" -C "$2"; sync -f "$2"; umount "$2"';

function main(): void {
  const image = mixedImage(dataMiB);
  const m0 = machine();
  console.log(`load average ${m0.loadAverage.join(' ')} on ${m0.cpus} cores`);
  const out = join(benchRoot, 'restore-out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'manual'), { recursive: true, mode: 0o700 });
  const source = run('losetup', ['-f', '--show', '-r', image]).trim();
  try {
    const sizeBytes = statSync(image).size;
    const ours = JSON.parse(
      run('node', [cli, 'backup', '--device', source, '--dest', join(out, 'ours'), '--json']),
    ) as { manifest: string; totals: { storedBytes: number } };
    mkdirSync(mnt, { recursive: true });
    run('mount', ['-o', 'ro,noload', source, mnt]);
    try {
      run('tar', [
        '--sparse',
        '--exclude=lost+found',
        '-czf',
        join(out, 'manual', 'backup.tgz'),
        '-C',
        mnt,
        '.',
      ]);
    } finally {
      run('umount', [mnt]);
    }
    run('bash', ['-c', 'cd "$0" && sha1sum backup.tgz > backup.tgz.sha1', join(out, 'manual')]);
    const manualBytes = statSync(join(out, 'manual', 'backup.tgz')).size;
    const expected = contents(source, 'ro,noload');
    console.log(
      `archives: ours ${(ours.totals.storedBytes / 2 ** 20).toFixed(0)} MiB, manual tgz ${(manualBytes / 2 ** 20).toFixed(0)} MiB`,
    );

    const samples: Record<'manual' | 'ours', number[]> = { manual: [], ours: [] };
    const rss: number[] = [];
    const same: Record<'manual' | 'ours', boolean> = { manual: true, ours: true };
    for (let i = 0; i < reps; i++) {
      const order: ('manual' | 'ours')[] = i % 2 === 0 ? ['manual', 'ours'] : ['ours', 'manual'];
      for (const which of order) {
        const target = attachEmpty(sizeBytes, `restore-target-${which}`);
        try {
          const t =
            which === 'manual'
              ? timed(['bash', '-c', MANUAL, 'manual', target.dev, mnt, join(out, 'manual')])
              : timed([
                  'node',
                  cli,
                  'restore',
                  '--manifest',
                  ours.manifest,
                  '--target',
                  target.dev,
                  '--force',
                  '--json',
                ]);
          samples[which].push(t.seconds);
          if (which === 'ours') rss.push(t.maxRssKiB);
          // Checked once per contender (the walk hashes every file: slower than a restore).
          if (i === 0) same[which] = contents(target.dev, 'ro') === expected;
          console.log(`rep ${i + 1} ${which.padEnd(6)} ${t.seconds.toFixed(2)} s`);
        } finally {
          detach(target);
        }
      }
    }
    const t = { manual: median(samples.manual), ours: median(samples.ours) };
    const m1 = machine();
    console.log(
      `\nmedians over ${reps} repetitions (load average now ${m1.loadAverage.join(' ')}):`,
    );
    console.log(`  manual (sha1sum -c, mkfs.ext4, tar xzf, sync): ${t.manual.toFixed(2)} s`);
    console.log(
      `  restore --manifest                          : ${t.ours.toFixed(2)} s, peak RSS ${(median(rss) / 1024).toFixed(0)} MiB`,
    );
    console.log(
      `  speed-up vs manual                          : ${(t.manual / t.ours).toFixed(2)}x  (target >= 3x)`,
    );
    console.log(
      `  contents equal to the source: manual ${same.manual ? 'SAME' : 'DIFFERENT'}, ours ${same.ours ? 'SAME' : 'DIFFERENT'}`,
    );
    writeResult('restore', {
      command: `npx tsx test/bench/restore.ts --reps ${reps} --data-mib ${dataMiB}`,
      machineBefore: m0,
      machineAfter: m1,
      archives: { oursStoredBytes: ours.totals.storedBytes, manualBytes },
      samples,
      medians: t,
      ratio: t.manual / t.ours,
      target: { ratio: 3, met: t.manual / t.ours >= 3 },
      oursPeakRssKiB: median(rss),
      contentsEqualSource: same,
    });
    if (!same.manual || !same.ours) process.exitCode = 1;
  } finally {
    spawnSync('umount', [mnt]);
    spawnSync('losetup', ['-d', source]);
  }
}

main();
