/**
 * Benchmark: `backup --device` against the manual procedure operators follow today
 * (`tar --exclude=lost+found -czf` then `sha1sum`) and against the best one-pass shell
 * pipeline (`tar | zstd -T2 -3 | tee | sha256sum`), on the same loop-mounted ext4 image,
 * in the same run. Each contender does the whole job: mount, read, write the archive
 * durably (fsync), unmount. Prints medians and ratios; not part of `npm test`.
 *
 *   npm run build && npx tsx test/bench/archive-vs-manual.ts [--reps 3] [--data-mib 1100]
 *
 * Needs root, loop devices, GNU time (/usr/bin/time), zstd, gzip, mkfs.ext4.
 * The image and the archives live under $CLB_BENCH_DIR (default /var/tmp/clb-bench) and
 * the image is kept between runs (it takes a minute to fill); delete the folder to rebuild.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fillMixed } from './bench-volume.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    'data-mib': { type: 'string', default: '1100' },
  },
});
const reps = Number(values.reps);
const dataMiB = Number(values['data-mib']);
const root = process.env['CLB_BENCH_DIR'] ?? '/var/tmp/clb-bench';
const image = join(root, `ext4-${dataMiB}M.img`);
const mnt = join(root, 'mnt');
const out = join(root, 'out');
const cli = join(process.cwd(), 'dist', 'cli.js');

function run(program: string, args: string[]): string {
  return execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Copies `src` into the mounted image until about `mib` MiB of it are used. */
function fillImage(): void {
  const imageMiB = Math.ceil(dataMiB * 1.6) + 256;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  run('truncate', ['-s', `${imageMiB}M`, image]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'benchdata', image]);
  mkdirSync(mnt, { recursive: true });
  run('mount', ['-o', 'loop', image, mnt]);
  try {
    fillMixed(mnt, dataMiB * 0.9);
  } finally {
    run('umount', [mnt]);
  }
}

interface Sample {
  seconds: number;
  archiveBytes: number;
  maxRssKiB: number;
}

/** Runs one contender under GNU time; returns wall seconds, archive size and peak RSS. */
function timed(args: string[], archiveDir: string): Sample {
  rmSync(archiveDir, { recursive: true, force: true });
  mkdirSync(archiveDir, { recursive: true, mode: 0o700 });
  const started = process.hrtime.bigint();
  const res = spawnSync('/usr/bin/time', ['-f', '%M', ...args], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.status !== 0) {
    throw new Error(`${args.join(' ')} failed (${res.status}): ${res.stderr.slice(-2000)}`);
  }
  const rssLine = res.stderr.trim().split('\n').pop() ?? '0';
  return {
    seconds,
    archiveBytes: dirBytes(archiveDir, /\.(tgz|zst)$/),
    maxRssKiB: Number(rssLine),
  };
}

function dirBytes(dir: string, pattern: RegExp): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && pattern.test(entry.name)) total += statSync(path).size;
  }
  return total;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

function main(): void {
  if (!existsSync(cli)) throw new Error('dist/cli.js missing: run `npm run build` first');
  if (!existsSync(image)) fillImage();
  const loop = run('losetup', ['-f', '--show', '-r', image]).trim();
  try {
    console.log(`image ${image} (${(statSync(image).size / 2 ** 20).toFixed(0)} MiB) on ${loop}`);
    // The manual page's procedure; the mount and durability steps are part of the job.
    const manual = [
      'bash',
      '-c',
      'set -e; mount -o ro "$1" "$2"; tar --exclude=lost+found -czf "$3/backup.tgz" -C "$2" .; sync "$3/backup.tgz"; sha1sum "$3/backup.tgz" > "$3/backup.tgz.sha1"; umount "$2"',
      'manual',
      loop,
      mnt,
      join(out, 'manual'),
    ];
    // The one-pass shell pipeline quoted in the issue (plain tar: reads sparse files'
    // holes as zeros and drops xattrs/ACLs), and the same pipeline doing our job: the
    // same tar options as the engine (src/engine/args/archive-args.ts). The target ratio
    // is taken against the latter.
    const pipelineScript = (tarOptions: string): string =>
      `set -eo pipefail; mount -o ro "$1" "$2"; tar ${tarOptions} --exclude=./lost+found -cf - -C "$2" . | zstd -q -T2 -3 | tee "$3/backup.tar.zst" | sha256sum > "$3/backup.sha256"; sync "$3/backup.tar.zst"; umount "$2"`;
    const pipeline = [
      'bash',
      '-c',
      pipelineScript(''),
      'pipeline',
      loop,
      mnt,
      join(out, 'pipeline'),
    ];
    const sameJob = [
      'bash',
      '-c',
      pipelineScript(
        "--format=posix --xattrs --xattrs-include='*' --acls --numeric-owner --sparse --one-file-system",
      ),
      'same-job',
      loop,
      mnt,
      join(out, 'same-job'),
    ];
    const ours = ['node', cli, 'backup', '--device', loop, '--dest', join(out, 'ours'), '--json'];
    const contenders: Record<string, string[]> = { manual, pipeline, 'same-job': sameJob, ours };
    const samples: Record<string, Sample[]> = {
      manual: [],
      pipeline: [],
      'same-job': [],
      ours: [],
    };
    // Warm the page cache once so every contender reads from the same cache state.
    timed(pipeline, join(out, 'pipeline'));
    run('mount', ['-o', 'ro', loop, mnt]);
    const usedBytes = run('df', ['--output=used', '-B1', mnt]).split('\n')[1]?.trim();
    run('umount', [mnt]);
    console.log(`filesystem used: ${(Number(usedBytes) / 1e9).toFixed(2)} GB`);
    for (let i = 0; i < reps; i++) {
      for (const [name, args] of Object.entries(contenders)) {
        const s = timed(args, join(out, name));
        samples[name]?.push(s);
        console.log(
          `rep ${i + 1} ${name.padEnd(8)} ${s.seconds.toFixed(2)} s  archive ${(s.archiveBytes / 1e6).toFixed(1)} MB  peak RSS ${(s.maxRssKiB / 1024).toFixed(0)} MiB`,
        );
      }
    }
    const m = (name: string, f: (s: Sample) => number): number =>
      median((samples[name] ?? []).map(f));
    const t = {
      manual: m('manual', (s) => s.seconds),
      pipeline: m('pipeline', (s) => s.seconds),
      sameJob: m('same-job', (s) => s.seconds),
      ours: m('ours', (s) => s.seconds),
    };
    const size = {
      manual: m('manual', (s) => s.archiveBytes),
      ours: m('ours', (s) => s.archiveBytes),
    };
    console.log('\nmedians over', reps, 'repetitions:');
    console.log(
      `  manual (tar czf + sha1sum): ${t.manual.toFixed(2)} s, archive ${(size.manual / 1e6).toFixed(1)} MB`,
    );
    console.log(
      `  one-pass shell pipeline   : ${t.pipeline.toFixed(2)} s (plain tar, as quoted in the issue)`,
    );
    console.log(
      `  same pipeline, our job    : ${t.sameJob.toFixed(2)} s (posix, xattrs, ACLs, sparse)`,
    );
    console.log(
      `  backup --device           : ${t.ours.toFixed(2)} s, archive ${(size.ours / 1e6).toFixed(1)} MB, peak RSS ${(m('ours', (s) => s.maxRssKiB) / 1024).toFixed(0)} MiB`,
    );
    console.log(
      `  speed-up vs manual        : ${(t.manual / t.ours).toFixed(2)}x   (target >= 6x)`,
    );
    console.log(
      `  vs same-job pipeline      : ${(t.ours / t.sameJob).toFixed(3)}x  (target <= 1.15x)`,
    );
    console.log(`  vs plain pipeline         : ${(t.ours / t.pipeline).toFixed(3)}x`);
    console.log(
      `  archive size vs manual    : ${(size.ours / size.manual).toFixed(3)}x  (target <= 1)`,
    );
  } finally {
    spawnSync('umount', [mnt], { stdio: 'ignore' });
    run('losetup', ['-d', loop]);
  }
}

main();
