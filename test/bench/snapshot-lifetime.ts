/**
 * Benchmark: how long a backup keeps its LVM snapshot (start of lvcreate to end of lvremove,
 * the time the origin's writes pay for the COW), against a raw read of the same used data
 * through a snapshot (`lvcreate`, mount, `tar -cf - . | cat >/dev/null`, umount, `lvremove`),
 * in the storage-node guest, all in one boot (snapshot-lifetime.sh is the guest side):
 *   - the raw read (at the start, after the full backups, and at the end);
 *   - what bounds the archive pass: the engine's tar into cat, and into zstd at several
 *     settings (level, threads, --adapt), each from cold caches on one snapshot;
 *   - `backup --lv --full` of this build (and of `--baseline DIR`'s, alternating), its
 *     manifest's snapshotLifetime (this build) and wall time;
 *   - about 1 % of the files changed, then `backup --lv --incremental`.
 * The source is an ext4 image built here once (copied /usr/share files, shared libraries,
 * random files) and written into a thick LV in the guest.
 *
 *   npm run build && flock /tmp/clb-guest.lock npx tsx test/bench/snapshot-lifetime.ts \
 *       [--data-mib 256] [--reps 2] [--baseline /work/main]
 *
 * Needs root, loop devices, qemu (see test/storage-node/README.md). Writes JSON under
 * test/bench/results/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT, runInGuest } from '../storage-node/guest.js';
import { benchRoot, machine, median, run, usedMiB, writeResult } from './bench-volume.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '2' },
    'data-mib': { type: 'string', default: '256' },
    baseline: { type: 'string' },
  },
});
const reps = Number(values.reps);
const dataMiB = Number(values['data-mib']);
const baselineCli = values.baseline ? resolve(values.baseline, 'dist', 'cli.js') : null;
const thisCli = join(PROJECT_ROOT, 'dist', 'cli.js');

/**
 * An ext4 image of about `dataMiB` MiB used: 60 % files copied from /usr/share and the
 * shared libraries (directory by directory), 40 % random files of 64 KiB to 16 MiB (what
 * does not compress). No sparse file: the raw read is a plain `tar -cf -`, which would
 * read a hole as zeros. Built once under $CLB_BENCH_DIR, then reused.
 */
function sourceImage(): string {
  const image = join(benchRoot, `lifetime-ext4-${dataMiB}M.img`);
  if (existsSync(image)) return image;
  mkdirSync(benchRoot, { recursive: true, mode: 0o700 });
  const mnt = join(benchRoot, 'fill-lifetime');
  mkdirSync(mnt, { recursive: true });
  run('truncate', ['-s', `${Math.ceil(dataMiB * 1.5) + 128}M`, `${image}.tmp`]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'lifetime', `${image}.tmp`]);
  run('mount', ['-o', 'loop', `${image}.tmp`, mnt]);
  try {
    const copied = dataMiB * 0.6;
    outer: for (const src of ['/usr/share', '/usr/lib/x86_64-linux-gnu']) {
      const dest = join(mnt, src.replaceAll('/', '_'));
      mkdirSync(dest, { recursive: true });
      for (const name of readdirSync(src).sort()) {
        if (usedMiB(mnt) >= copied) break outer;
        // Skip what is larger than what is left (one big directory would be most of it).
        const size = Number(run('du', ['-sm', join(src, name)]).split('\t')[0]);
        if (size > copied - usedMiB(mnt) + 8) continue;
        run('cp', ['-a', join(src, name), dest]);
      }
    }
    const sizes = [64 << 10, 1 << 20, 4 << 20, 16 << 20, 256 << 10, 8 << 20];
    mkdirSync(join(mnt, 'random'));
    for (let i = 0; usedMiB(mnt) < dataMiB; i++) {
      const bytes = sizes[i % sizes.length] ?? 1 << 20;
      run('dd', [
        'if=/dev/urandom',
        `of=${join(mnt, 'random', `r${i}`)}`,
        `bs=${bytes}`,
        'count=1',
        'iflag=fullblock',
        'status=none',
      ]);
    }
  } finally {
    run('umount', [mnt]);
  }
  run('mv', [`${image}.tmp`, image]);
  return image;
}

interface Measure {
  name: string;
  wall: number;
  user: number;
  sys: number;
  /** Bytes out of the pipeline (compressed), or stored by the backup; null for raw reads. */
  bytes: number | null;
  /** lvcreate to lvremove, seconds; null where it does not apply or is not recorded. */
  lifetime: number | null;
}

function readMeasures(file: string): Measure[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [name, wall, user, sys, bytes, lifetime] = l.split('\t');
      const num = (v: string | undefined): number | null =>
        v === undefined || v === '-' ? null : Number(v);
      return {
        name: name ?? '',
        wall: Number(wall),
        user: Number(user),
        sys: Number(sys),
        bytes: num(bytes),
        lifetime: num(lifetime),
      };
    });
}

interface BackupJson {
  status: string;
  level: number;
  totals: { archivedBytes: number; storedBytes: number };
  snapshotLifetimeMs?: number | null;
}
interface ManifestJson {
  timings: Record<string, number>;
  compression: { level: number; threads: number };
}

const s = (x: number): string => `${x.toFixed(2)} s`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const image = sourceImage();
  const m0 = machine();
  console.log(`load average ${m0.loadAverage.join(' ')} on ${m0.cpus} cores`);
  const outDir = join(benchRoot, 'lifetime-out');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // The guest reads the image through /out.
  run('cp', ['--sparse=always', image, join(outDir, 'source.img')]);
  const imageMiB = statSync(image).size / 2 ** 20;
  const guest = await runInGuest({
    command: ['bash', join(PROJECT_ROOT, 'test', 'bench', 'snapshot-lifetime.sh')],
    disks: [Math.ceil(imageMiB * 1.5) + 256, Math.ceil(dataMiB * 4) + 512],
    memMiB: 2048,
    timeoutSec: 5400,
    outDir,
    echo: true,
    env: {
      THIS_CLI: thisCli,
      BASE_CLI: baselineCli ?? '',
      REPS: String(reps),
    },
  });
  const m1 = machine();
  if (guest.exitCode !== 0) {
    throw new Error(`guest exited ${guest.exitCode}: ${guest.stderr.slice(-2000)}`);
  }
  const measures = readMeasures(join(outDir, 'measures.tsv'));
  const byName = (n: string): Measure => {
    const x = measures.find((q) => q.name === n);
    if (x === undefined) throw new Error(`no measure ${n}`);
    return x;
  };
  const json = <T>(f: string): T => JSON.parse(readFileSync(join(outDir, f), 'utf8')) as T;
  const backups = measures
    .filter((x) => /^(full|inc)-/.test(x.name))
    .map((x) => {
      const j = json<BackupJson>(`${x.name}.json`);
      const man = json<ManifestJson>(`${x.name}.manifest.json`);
      if (j.status !== 'ok') throw new Error(`${x.name}: ${j.status}`);
      return { ...x, level: j.level, archivedBytes: j.totals.archivedBytes, manifest: man };
    });
  for (const b of backups.filter((x) => x.name.startsWith('inc-'))) {
    if (b.level !== 1) throw new Error(`${b.name} is level ${b.level}, not 1`);
  }
  for (const b of backups.filter((x) => x.name.includes('-this-'))) {
    if (b.lifetime === null) throw new Error(`${b.name}: the manifest has no snapshotLifetime`);
  }

  const raw = ['raw-1', 'raw-2', 'raw-3'].map(byName);
  const rawLife = median(raw.map((r) => r.lifetime ?? NaN));
  const lifeOf = (prefix: string): number =>
    median(backups.filter((b) => b.name.startsWith(prefix)).map((b) => b.lifetime ?? NaN));
  const wallOf = (prefix: string): number =>
    median(backups.filter((b) => b.name.startsWith(prefix)).map((b) => b.wall));
  const full = lifeOf('full-this-');
  const inc = lifeOf('inc-this-');
  const pipes = measures.filter((x) => x.name.startsWith('pipe:'));
  const tarCat = byName('pipe:tar|cat');
  const changes = readFileSync(join(outDir, 'changes.tsv'), 'utf8').trim().split('\t');

  console.log(
    `\nsource: ${dataMiB} MiB used (60 % copied system files, 40 % random), ${reps} rep(s)`,
  );
  console.log(
    `raw read (lvcreate .. tar -cf - . | cat .. lvremove): ${raw.map((r) => s(r.lifetime ?? NaN)).join(', ')}; median ${s(rawLife)}`,
  );
  console.log('\narchive pass from a snapshot, cold caches (engine tar arguments):');
  for (const p of pipes) {
    const cpu = p.user + p.sys;
    console.log(
      `  ${p.name.slice(5).padEnd(24)} ${s(p.wall).padStart(9)}  ${(p.wall / tarCat.wall).toFixed(2)}x tar|cat  cpu ${s(cpu)} (${(cpu / p.wall).toFixed(2)} cores)  out ${mib(p.bytes ?? 0)}`,
    );
  }
  console.log('\nbackups (snapshot lifetime from the manifest; wall of the whole command):');
  for (const b of backups) {
    const t = b.manifest.timings;
    console.log(
      `  ${b.name.padEnd(12)} zstd -${b.manifest.compression.level} -T${b.manifest.compression.threads} level ${b.level} wall ${s(b.wall)} lifetime ${b.lifetime === null ? '-' : s(b.lifetime)} archive ${s((t['archive:p0'] ?? 0) / 1000)} cpu ${s(b.user + b.sys)} tar stream ${mib(b.archivedBytes)} stored ${mib(b.bytes ?? 0)}`,
    );
  }
  const base = baselineCli === null ? null : wallOf('full-base-');
  console.log(
    `\nsnapshot-lifetime: raw read ${s(rawLife)}, full ${s(full)} (${(full / rawLife).toFixed(2)}x), incremental ${s(inc)} (${(inc / rawLife).toFixed(2)}x); ${changes[2]} of ${changes[1]} files changed`,
  );
  if (base !== null) {
    console.log(
      `full backup wall: this build ${s(wallOf('full-this-'))}, baseline ${s(base)} (${(base / wallOf('full-this-')).toFixed(2)}x)`,
    );
  }
  console.log(`load average before ${m0.loadAverage.join(' ')}, after ${m1.loadAverage.join(' ')}`);

  writeResult('snapshot-lifetime', {
    command: `flock /tmp/clb-guest.lock npx tsx test/bench/snapshot-lifetime.ts --data-mib ${dataMiB} --reps ${reps}${values.baseline ? ` --baseline ${values.baseline}` : ''}`,
    commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(),
    machineBefore: m0,
    machineAfter: m1,
    guest: { cpus: 2, memMiB: 2048, durationMs: guest.durationMs },
    dataMiB,
    changedFiles: { files: Number(changes[1]), changed: Number(changes[2]) },
    raw,
    pipelines: pipes,
    backups: backups.map(({ manifest, ...b }) => ({
      ...b,
      compression: manifest.compression,
      timings: manifest.timings,
    })),
    medians: {
      rawLifetime: rawLife,
      fullLifetime: full,
      incrementalLifetime: inc,
      fullWall: wallOf('full-this-'),
      ...(base !== null ? { baselineFullWall: base } : {}),
    },
    ratios: { full: full / rawLife, incremental: inc / rawLife },
  });
}

await main();
