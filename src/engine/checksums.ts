/**
 * The `SHA256SUMS` file (`sha256sum -c` format: `<hex>  <name>`), built from and checked
 * against the manifest.
 */
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
