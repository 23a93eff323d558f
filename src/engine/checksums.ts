/**
 * The `SHA256SUMS` file (`sha256sum -c` format: `<hex>  <name>`), built from and checked
 * against the manifest, and the tap that checks a stored file while it is read.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { ArchiveFile, Manifest } from './manifest.js';

/**
 * Every stored file of a backup: the dump first, the head, then partitions in order (each
 * archive followed by its listed-incremental snapshot file, when it has one).
 */
export function manifestFiles(m: Pick<Manifest, 'head' | 'partitions' | 'dump'>): ArchiveFile[] {
  const files: ArchiveFile[] = [];
  if (m.dump) files.push(m.dump);
  if (m.head) files.push(m.head);
  for (const p of m.partitions) {
    if (p.archive) files.push(p.archive);
    if (p.snapshotFile) files.push(p.snapshotFile);
  }
  return files;
}

export function formatSha256Sums(files: readonly ArchiveFile[]): string {
  return files.map((f) => `${f.sha256}  ${f.file}\n`).join('');
}

/** Parses a SHA256SUMS file into name → hex (binary-mode `*name` lines accepted). */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) out.set(m[2] as string, m[1] as string);
  }
  return out;
}

/**
 * A pass-through that counts the bytes flowing through it and, when asked, hashes them
 * (sha256): how a stored file is checked while it is read, in one pass.
 */
export class ByteTap extends Transform {
  private readonly hash: Hash | null;
  bytes = 0;

  /** `onBytes` gets each chunk's size and the running total. */
  constructor(opts: { sha256?: boolean; onBytes?: (n: number, total: number) => void } = {}) {
    super();
    this.hash = opts.sha256 === true ? createHash('sha256') : null;
    this.onBytes = opts.onBytes;
  }

  private readonly onBytes: ((n: number, total: number) => void) | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.observe(chunk);
    done(null, chunk);
  }

  /** Counts and hashes `chunk` as if it had passed (for a reader that copies it on itself). */
  observe(chunk: Buffer): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length, this.bytes);
  }

  /** The hex sha256 of what passed (only for a tap made with `sha256: true`). */
  digest(): string {
    if (this.hash === null) throw new Error('ByteTap made without sha256');
    return this.hash.digest('hex');
  }
}
