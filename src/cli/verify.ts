/**
 * `cinder-lvm-backup verify --manifest FILE`: checksums and readability of every archive.
 */
import { verifyBackup } from '../engine/verify.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import { EXIT_FAILED, EXIT_OK, printJson, type CommandContext } from './output.js';

const OPTIONS = {
  manifest: { kind: 'string', arg: 'FILE', help: "the backup's manifest.json (required)" },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'verify',
  usage: ['verify --manifest FILE'],
  description:
    "Checks a backup where it lies: every file against the manifest's SHA-256 and\n" +
    'SHA256SUMS, and every archive read to its end (zstd and tar); for an incremental\n' +
    'backup, every backup of its chain as well. Exit 1 when any fails.',
  options: OPTIONS,
  examples: [
    'verify --manifest /var/backups/cinder/volume-0b1c…/20261201T020000Z-4f2a/manifest.json',
    'verify --manifest …/manifest.json --json',
  ],
};

export async function run(argv: string[], ctx: CommandContext): Promise<number> {
  const { manifest } = parseCommandArgs(spec, argv).values;
  if (manifest === undefined) throw usageError(spec, '--manifest is required');
  const result = await verifyBackup({ manifestPath: manifest, signal: ctx.signal });
  const bad = result.archives.filter((a) => !a.ok);
  const code = bad.some((a) => a.file === 'chain')
    ? 'CHAIN_BROKEN'
    : bad.some((a) => /sha256|SHA256SUMS|cannot read/.test(a.error ?? ''))
      ? 'CHECKSUM_MISMATCH'
      : 'ARCHIVE_UNREADABLE';
  const message = bad.map((a) => `${a.file}: ${a.error ?? 'failed'}`).join('; ');
  if (ctx.json) {
    printJson(
      result.ok
        ? { status: 'ok', manifest, chain: result.chain, archives: result.archives }
        : {
            status: 'failed',
            manifest,
            chain: result.chain,
            archives: result.archives,
            error: { code, message },
          },
    );
  } else {
    for (const a of result.archives) {
      process.stdout.write(
        `${a.ok ? 'OK    ' : 'FAILED'} ${a.file}${a.error ? `: ${a.error}` : ''}\n`,
      );
    }
    if (!result.ok) process.stderr.write(`error: ${code}: ${message}\n`);
  }
  return result.ok ? EXIT_OK : EXIT_FAILED;
}
