/**
 * What the incremental and restore benchmarks share: an ext4 image of mixed data (text and
 * documentation, shared libraries, Python, a database-like random file, a sparse file),
 * built once under $CLB_BENCH_DIR and kept; loop devices; the kernel's read counter of a
 * device; GNU time around a command; medians; writing the JSON result.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';

export const benchRoot = process.env['CLB_BENCH_DIR'] ?? '/var/tmp/clb-bench';
export const cli = join(process.cwd(), 'dist', 'cli.js');

export function run(program: string, args: string[], input?: string): string {
  return execFileSync(program, args, {
    encoding: 'utf8',
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'inherit'],
    ...(input === undefined ? {} : { input }),
    maxBuffer: 1 << 28,
  });
}

/** An ext4 image with about `dataMiB` MiB of mixed data; built once, then reused. */
export function mixedImage(dataMiB: number): string {
  const image = join(benchRoot, `mixed-ext4-${dataMiB}M.img`);
  if (existsSync(image)) return image;
  mkdirSync(benchRoot, { recursive: true, mode: 0o700 });
  const mnt = join(benchRoot, 'fill');
  mkdirSync(mnt, { recursive: true });
  run('truncate', ['-s', `${Math.ceil(dataMiB * 1.6) + 256}M`, `${image}.tmp`]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'benchdata', `${image}.tmp`]);
  run('mount', ['-o', 'loop', `${image}.tmp`, mnt]);
  try {
    fillMixed(mnt, dataMiB * 0.85);
  } finally {
    run('umount', [mnt]);
  }
  run('mv', [`${image}.tmp`, image]);
  return image;
}

/**
 * Mixed data as found on a real volume, copied into the filesystem mounted at `mnt` until
 * about `untilMiB` MiB are used: text and documentation (compressible, many small files),
 * shared libraries (binary), a database-like file of random bytes (incompressible) and a
 * sparse file.
 */
export function fillMixed(mnt: string, untilMiB: number): void {
  const sources = ['/usr/share', '/usr/lib/x86_64-linux-gnu', '/usr/lib/python3', '/usr/lib/jvm'];
  for (const src of sources) {
    if (!existsSync(src)) continue;
    if (usedMiB(mnt) >= untilMiB) break;
    spawnSync('cp', ['-a', src, join(mnt, src.replaceAll('/', '_'))], { stdio: 'inherit' });
  }
  run('dd', [
    'if=/dev/urandom',
    `of=${join(mnt, 'random.db')}`,
    'bs=1M',
    'count=64',
    'status=none',
  ]);
  run('truncate', ['-s', '2G', join(mnt, 'sparse.img')]);
  run('dd', [
    'if=/dev/urandom',
    `of=${join(mnt, 'sparse.img')}`,
    'bs=1M',
    'count=4',
    'seek=100',
    'conv=notrunc',
    'status=none',
  ]);
}

export function usedMiB(mountpoint: string): number {
  return Number(run('df', ['--output=used', '-B1M', mountpoint]).split('\n')[1]);
}

/** A fresh sparse copy of `image` (the benchmark changes it), attached read-write. */
export function attachCopy(image: string, name: string): { dev: string; file: string } {
  const file = join(benchRoot, `${name}.img`);
  run('cp', ['--sparse=always', image, file]);
  return { dev: run('losetup', ['-f', '--show', file]).trim(), file };
}

/** An empty sparse image of `bytes`, attached. */
export function attachEmpty(bytes: number, name: string): { dev: string; file: string } {
  const file = join(benchRoot, `${name}.img`);
  run('rm', ['-f', file]);
  run('truncate', ['-s', String(bytes), file]);
  return { dev: run('losetup', ['-f', '--show', file]).trim(), file };
}

export function detach(dev: { dev: string; file: string }): void {
  spawnSync('losetup', ['-d', dev.dev], { stdio: 'ignore' });
  spawnSync('rm', ['-f', dev.file], { stdio: 'ignore' });
}

/** Bytes the kernel has read from a whole disk since boot (its partitions included). */
export function bytesRead(dev: string): number {
  const fields = readFileSync(`/sys/block/${basename(dev)}/stat`, 'utf8')
    .trim()
    .split(/\s+/);
  return Number(fields[2]) * 512;
}

export interface Timed {
  seconds: number;
  maxRssKiB: number;
  /** User + system CPU of the command and the children it waited for (zstd, tar, ...). */
  cpuSeconds: number;
  stdout: string;
}

/** Runs a command under GNU time; wall seconds, peak RSS, CPU time and its stdout. */
export function timed(args: string[]): Timed {
  const started = process.hrtime.bigint();
  const res = spawnSync(
    '/usr/bin/time',
    ['-f', '%M %U %S', '-o', join(benchRoot, 'time.out'), ...args],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.status !== 0) {
    throw new Error(`${args.join(' ')} failed (${res.status}): ${res.stderr.slice(-2000)}`);
  }
  const last = readFileSync(join(benchRoot, 'time.out'), 'utf8').trim().split('\n').pop() ?? '';
  const [rss = 0, user = 0, sys = 0] = last.split(' ').map(Number);
  return { seconds, maxRssKiB: rss, cpuSeconds: user + sys, stdout: res.stdout };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/** The machine's state, printed and recorded with every result. */
export function machine(): { loadAverage: number[]; cpus: number; kernel: string } {
  return {
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    cpus: Number(run('nproc', []).trim()),
    kernel: run('uname', ['-r']).trim(),
  };
}

/** Writes the result as JSON under test/bench/results/ and prints where. */
export function writeResult(name: string, result: unknown): void {
  const dir = join(process.cwd(), 'test', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nresult written to ${file}`);
}
