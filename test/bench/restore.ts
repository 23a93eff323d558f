/**
 * Benchmark: our restore of a backup onto a fresh device against the manual procedure
 * (`sha1sum -c` of the archive, `mkfs.ext4`, mount, `tar xzf`, sync, umount), in the same
 * run, from the same mixed-data ext4 image (≥ 1 GiB used): the manual archive made as the
 * manual page says (`tar --exclude=lost+found -czf` + `sha1sum`) plus `--sparse` (without
 * it the image's sparse file does not fit back), ours by `backup --device`. Each repetition
 * restores onto a new sparse image of the volume's size. Both end durable the same way: a
 * syncfs, then the unmount (ours also probes and counts). Both results are compared with
 * the source by lib.sh's whole clb_walk (entries with type, mode, owner, size, link target
 * and mtime; hard-link groups; sha256 of every file; sparse files; xattrs; ACLs), so a fast
 * but wrong restore cannot win. The load average is recorded next to every sample, and the
 * CPU time (user + system, children included) of each: on a loaded machine it moves less
 * than the wall time. `--baseline DIR`: also restore with DIR's build (`DIR/dist/cli.js`,
 * e.g. main built in a separate directory), from the same backup, taking turns with the
 * other two, so a change is compared with what it replaces in one run.
 *
 *   npm run build && npx tsx test/bench/restore.ts [--reps 3] [--data-mib 1100] [--baseline DIR]
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
    baseline: { type: 'string' },
  },
});
const reps = Number(values.reps);
const dataMiB = Number(values['data-mib']);
const LIB = resolve(process.cwd(), 'test', 'storage-node', 'scenarios', 'lib.sh');
const mnt = join(benchRoot, 'mnt');
const baselineCli =
  values.baseline === undefined ? null : resolve(values.baseline, 'dist', 'cli.js');

type Contender = 'manual' | 'ours' | 'baseline';

/**
 * lib.sh's walk of the tree on `dev`: every entry's type, mode, owner, size, link target and
 * mtime, hard-link groups, sha256 of every file, sparse files, xattrs and ACLs.
 */
function walk(dev: string, options: string): string {
  mkdirSync(mnt, { recursive: true });
  mountRetrying(dev, options);
  try {
    return run('bash', ['-c', 'set -euo pipefail; . "$0"; clb_walk "$1"', LIB, mnt]);
  } finally {
    run('umount', [mnt]);
  }
}

/**
 * Other helpers' mount namespaces, made while one of ours was mounted, keep that superblock
 * alive for a while after our unmount ("would change RO state" for the read-only mount that
 * follows, seen 2026-12-02): try again for up to a minute.
 */
function mountRetrying(dev: string, options: string): void {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('mount', ['-o', options, dev, mnt], { encoding: 'utf8' });
    if (r.status === 0) return;
    if (attempt >= 30) throw new Error(`mount ${dev}: ${r.stderr}`);
    spawnSync('sleep', ['2']);
  }
}

/** The walk's sections that differ between two walks (empty: the same tree). */
function differences(a: string, b: string): string[] {
  const sections = (w: string): Map<string, string> =>
    new Map(
      w
        .split(/^(?=# )/m)
        .map((part) => [part.slice(0, part.indexOf('\n')), part] as [string, string]),
    );
  const sa = sections(a);
  const sb = sections(b);
  return [...new Set([...sa.keys(), ...sb.keys()])].filter((k) => sa.get(k) !== sb.get(k));
}

/**
 * What both sides wait for before their time stops: the data on the device. Printed with the
 * result and kept in its JSON, so a figure is never read as one side skipping the flush.
 */
const DURABILITY =
  'both end with a syncfs of the restored filesystem, then its umount (manual: sync -f, umount; ours: syncfs every second while tar fills it, a last syncfs, umount, then blkid)';

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
    const expected = walk(source, 'ro,noload');
    console.log(
      `archives: ours ${(ours.totals.storedBytes / 2 ** 20).toFixed(0)} MiB, manual tgz ${(manualBytes / 2 ** 20).toFixed(0)} MiB`,
    );

    const contenders: Contender[] = [
      'manual',
      'ours',
      ...(baselineCli ? ['baseline' as const] : []),
    ];
    const samples: Partial<Record<Contender, number[]>> = {};
    const cpu: Partial<Record<Contender, number[]>> = {};
    const rss: Partial<Record<Contender, number[]>> = {};
    /** The restore's own step timings (`--json` timings: wipe, mkfs, extract, check, total). */
    const steps: Partial<Record<Contender, Record<string, number>[]>> = {};
    const loads: { rep: number; which: string; loadAverage: number[] }[] = [];
    const differing: Partial<Record<Contender, string[]>> = {};
    for (let i = 0; i < reps; i++) {
      // Each repetition starts with the next contender: every one runs first, middle, last.
      const order = contenders.map((_, k) => contenders[(k + i) % contenders.length] as Contender);
      for (const which of order) {
        const target = attachEmpty(sizeBytes, `restore-target-${which}`);
        try {
          const t =
            which === 'manual'
              ? timed(['bash', '-c', MANUAL, 'manual', target.dev, mnt, join(out, 'manual')])
              : timed([
                  'node',
                  which === 'ours' ? cli : (baselineCli as string),
                  'restore',
                  '--manifest',
                  ours.manifest,
                  '--target',
                  target.dev,
                  '--force',
                  '--json',
                ]);
          (samples[which] ??= []).push(t.seconds);
          (cpu[which] ??= []).push(t.cpuSeconds);
          (rss[which] ??= []).push(t.maxRssKiB);
          if (which !== 'manual') {
            const report = JSON.parse(t.stdout) as { timings?: Record<string, number> };
            (steps[which] ??= []).push(report.timings ?? {});
          }
          loads.push({ rep: i + 1, which, loadAverage: machine().loadAverage });
          // Checked once per contender (the walk hashes every file: slower than a restore).
          if (i === 0) differing[which] = differences(walk(target.dev, 'ro'), expected);
          console.log(
            `rep ${i + 1} ${which.padEnd(8)} ${t.seconds.toFixed(2)} s, CPU ${t.cpuSeconds.toFixed(2)} s  (load ${loads[loads.length - 1]?.loadAverage.join(' ')})`,
          );
        } finally {
          detach(target);
        }
      }
    }
    const med = (xs: Partial<Record<Contender, number[]>>, c: Contender): number =>
      median(xs[c] ?? []);
    const t = Object.fromEntries(contenders.map((c) => [c, med(samples, c)])) as Record<
      Contender,
      number
    >;
    const m1 = machine();
    console.log(
      `\nmedians over ${reps} repetitions (load average now ${m1.loadAverage.join(' ')}):`,
    );
    console.log(
      `  manual (sha1sum -c, mkfs.ext4, tar xzf, sync): ${t.manual.toFixed(2)} s, CPU ${med(cpu, 'manual').toFixed(2)} s`,
    );
    console.log(
      `  restore --manifest                          : ${t.ours.toFixed(2)} s, CPU ${med(cpu, 'ours').toFixed(2)} s, peak RSS ${(med(rss, 'ours') / 1024).toFixed(0)} MiB`,
    );
    if (baselineCli) {
      console.log(
        `  restore --manifest, baseline build          : ${t.baseline.toFixed(2)} s, CPU ${med(cpu, 'baseline').toFixed(2)} s  (${baselineCli})`,
      );
    }
    console.log(
      `  speed-up vs manual                          : ${(t.manual / t.ours).toFixed(2)}x  (target >= 3x)`,
    );
    console.log(`  durability, both timed through it          : ${DURABILITY}`);
    if (baselineCli) {
      console.log(
        `  baseline vs manual                          : ${(t.manual / t.baseline).toFixed(2)}x; ours vs baseline ${(t.baseline / t.ours).toFixed(2)}x`,
      );
    }
    const verdict = (d: string[] | undefined): string =>
      d === undefined || d.length === 0 ? 'SAME' : `DIFFERENT: ${d.join(', ')}`;
    console.log(
      `  tree (entries, owners, modes, links, contents, holes, xattrs, ACLs) vs the source: ${contenders.map((c) => `${c} ${verdict(differing[c])}`).join(', ')}`,
    );
    writeResult('restore', {
      command: `npx tsx test/bench/restore.ts --reps ${reps} --data-mib ${dataMiB}${values.baseline === undefined ? '' : ` --baseline ${values.baseline}`}`,
      machineBefore: m0,
      machineAfter: m1,
      archives: { oursStoredBytes: ours.totals.storedBytes, manualBytes },
      samples,
      medians: t,
      ratio: t.manual / t.ours,
      durability: DURABILITY,
      target: { ratio: 3, met: t.manual / t.ours >= 3 },
      ...(baselineCli
        ? {
            baseline: {
              cli: baselineCli,
              ratioVsManual: t.manual / t.baseline,
              oursVsBaseline: t.baseline / t.ours,
            },
          }
        : {}),
      cpuSeconds: cpu,
      cpuMedians: Object.fromEntries(contenders.map((c) => [c, med(cpu, c)])),
      restoreStepsMs: steps,
      oursPeakRssKiB: med(rss, 'ours'),
      loadDuringRepetitions: loads,
      treeEqualSource: Object.fromEntries(
        contenders.map((c) => [c, (differing[c] ?? []).length === 0]),
      ),
      treeSectionsDiffering: differing,
    });
    // The manual procedure is the baseline as an operator runs it (plain `tar xzf` restores
    // no xattrs, measured: it loses the source's); only ours must give the source back.
    if ((differing.ours ?? []).length > 0) process.exitCode = 1;
  } finally {
    spawnSync('umount', [mnt]);
    spawnSync('losetup', ['-d', source]);
  }
}

main();
