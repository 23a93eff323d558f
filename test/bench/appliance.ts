/**
 * Benchmark: `backup --device` of the same source in host mode and with
 * `--isolation appliance` (a libguestfs VM per backup; TCG where the node has no KVM), in
 * the same run, alternating per repetition. The source is an ext4 image of about
 * `--data-mib` MiB of mixed files (/usr/share, libraries) and 32 MiB of random bytes, with no
 * sparse file (tar-out stores holes as zeros, which would measure that instead), attached
 * read-only without partition scanning. Prints wall seconds, the appliance's boot and
 * archive timings from its manifest, the stored bytes of both, and the ratio.
 *
 *   npm run build && npx tsx test/bench/appliance.ts [--reps 1] [--data-mib 300]
 *
 * Needs root, loop devices, GNU time, guestfish. Writes JSON under test/bench/results/.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchRoot,
  cli,
  machine,
  median,
  run,
  timed,
  usedMiB,
  writeResult,
} from './bench-volume.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '1' },
    'data-mib': { type: 'string', default: '300' },
  },
});
const reps = Number(values.reps);
const dataMiB = Number(values['data-mib']);

/** An ext4 image of about `dataMiB` MiB of files and no holes; built once, then reused. */
function denseImage(): string {
  const image = join(benchRoot, `dense-ext4-${dataMiB}M.img`);
  if (existsSync(image)) return image;
  mkdirSync(benchRoot, { recursive: true, mode: 0o700 });
  const mnt = join(benchRoot, 'fill-dense');
  mkdirSync(mnt, { recursive: true });
  run('truncate', ['-s', `${Math.ceil(dataMiB * 1.5) + 128}M`, `${image}.tmp`]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'benchdata', `${image}.tmp`]);
  run('mount', ['-o', 'loop', `${image}.tmp`, mnt]);
  try {
    run('dd', [
      'if=/dev/urandom',
      `of=${join(mnt, 'random.db')}`,
      'bs=1M',
      'count=32',
      'status=none',
    ]);
    for (const src of ['/usr/share', '/usr/lib/x86_64-linux-gnu', '/usr/lib/python3']) {
      if (!existsSync(src) || usedMiB(mnt) >= dataMiB) break;
      // Copy directory by directory until the size is reached.
      const dest = join(mnt, src.replaceAll('/', '_'));
      mkdirSync(dest, { recursive: true });
      for (const name of run('ls', ['-1', src]).split('\n').filter(Boolean)) {
        if (usedMiB(mnt) >= dataMiB) break;
        run('cp', ['-a', join(src, name), dest]);
      }
    }
  } finally {
    run('umount', [mnt]);
  }
  run('mv', [`${image}.tmp`, image]);
  return image;
}

interface Run {
  seconds: number;
  maxRssKiB: number;
  storedBytes: number;
  archivedBytes: number;
  timings: Record<string, number>;
}

function backup(dev: string, isolation: 'host' | 'appliance'): Run {
  const dest = join(benchRoot, `dest-appliance-bench-${isolation}`);
  rmSync(dest, { recursive: true, force: true });
  const t = timed([
    process.execPath,
    cli,
    'backup',
    '--device',
    dev,
    '--dest',
    dest,
    '--isolation',
    isolation,
    '--json',
  ]);
  const out = JSON.parse(t.stdout) as { manifest: string };
  const m = JSON.parse(readFileSync(out.manifest, 'utf8')) as {
    totals: { storedBytes: number; archivedBytes: number };
    timings: Record<string, number>;
    isolation?: string;
  };
  if ((m.isolation ?? 'host') !== isolation) throw new Error(`manifest says ${m.isolation}`);
  rmSync(dest, { recursive: true, force: true });
  return {
    seconds: t.seconds,
    maxRssKiB: t.maxRssKiB,
    storedBytes: m.totals.storedBytes,
    archivedBytes: m.totals.archivedBytes,
    timings: m.timings,
  };
}

const image = denseImage();
const before = machine();
console.log(`source ${image}; load ${before.loadAverage.join(' ')}`);
const dev = run('losetup', ['-f', '--show', '-r', image]).trim();
const host: Run[] = [];
const appliance: Run[] = [];
try {
  for (let i = 0; i < reps; i++) {
    host.push(backup(dev, 'host'));
    appliance.push(backup(dev, 'appliance'));
    const h = host[i] as Run;
    const a = appliance[i] as Run;
    console.log(
      `rep ${i + 1}: host ${h.seconds.toFixed(2)} s, appliance ${a.seconds.toFixed(2)} s ` +
        `(boot ${((a.timings['appliance'] ?? 0) / 1000).toFixed(1)} s, archive ` +
        `${(Object.entries(a.timings).reduce((s, [k, v]) => (k.startsWith('archive:') ? s + v : s), 0) / 1000).toFixed(1)} s)`,
    );
  }
} finally {
  run('losetup', ['-d', dev]);
}
const hostS = median(host.map((r) => r.seconds));
const applianceS = median(appliance.map((r) => r.seconds));
const after = machine();
console.log(
  `appliance/host: ${(applianceS / hostS).toFixed(2)}x (host ${hostS.toFixed(2)} s, appliance ${applianceS.toFixed(2)} s, ` +
    `archived ${((host[0]?.archivedBytes ?? 0) / 2 ** 20).toFixed(1)} vs ${((appliance[0]?.archivedBytes ?? 0) / 2 ** 20).toFixed(1)} MiB, ` +
    `stored ${((host[0]?.storedBytes ?? 0) / 2 ** 20).toFixed(1)} vs ${((appliance[0]?.storedBytes ?? 0) / 2 ** 20).toFixed(1)} MiB; ` +
    `load ${before.loadAverage[0]} -> ${after.loadAverage[0]})`,
);
writeResult('appliance', {
  dataMiB,
  reps,
  before,
  after,
  host,
  appliance,
  ratio: applianceS / hostS,
});
