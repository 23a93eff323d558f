/**
 * `cinder-lvm-backup verify --manifest FILE`: checksums and readability of every archive.
 */
import { parseArgs } from 'node:util';
import { verifyBackup } from '../engine/verify.js';
import { AppError } from '../errors.js';
import { EXIT_FAILED, EXIT_OK, printJson, type CommandContext } from './output.js';

export async function run(argv: string[], ctx: CommandContext): Promise<number> {
  let manifest: string | undefined;
  try {
    manifest = parseArgs({ args: argv, strict: true, options: { manifest: { type: 'string' } } })
      .values.manifest;
  } catch (err) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${(err as Error).message}\nusage: verify --manifest FILE [--json]`,
    );
  }
  if (manifest === undefined) {
    throw new AppError('INVALID_ARGUMENT', 'usage: verify --manifest FILE [--json]');
  }
  const result = await verifyBackup({ manifestPath: manifest, signal: ctx.signal });
  const bad = result.archives.filter((a) => !a.ok);
  const code = bad.some((a) => /sha256|SHA256SUMS|cannot read/.test(a.error ?? ''))
    ? 'CHECKSUM_MISMATCH'
    : 'ARCHIVE_UNREADABLE';
  const message = bad.map((a) => `${a.file}: ${a.error ?? 'failed'}`).join('; ');
  if (ctx.json) {
    printJson(
      result.ok
        ? { status: 'ok', manifest, archives: result.archives }
        : { status: 'failed', manifest, archives: result.archives, error: { code, message } },
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
