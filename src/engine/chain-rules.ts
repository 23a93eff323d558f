/**
 * The rules of incremental chains, pure: a volume's identity (what must not change under a
 * chain), why a new backup cannot continue its parent's chain, and whether a list of
 * manifests is an intact chain. A chain is a full backup (level 0) and backups of levels
 * 1, 2, … each made with GNU tar's listed-incremental on the snapshot file of the one
 * before; restoring level N replays levels 0…N in order.
 */
import type { Manifest, ManifestPartition, VolumeIdentity } from './manifest.js';

/**
 * `sfdisk --dump` without what names the device rather than the table: the `device:` line
 * and the node names before each partition's ` : ` (a loop device or a dm name differs
 * between a snapshot and the next one).
 */
export function tableWithoutDeviceNames(dump: string): string {
  return dump
    .split('\n')
    .filter((line) => !/^device:/.test(line))
    .map((line) => line.replace(/^\S*?(\d+)\s+:/, 'p$1 :'))
    .join('\n')
    .trim();
}

/** The identity of a volume as its backup saw it. */
export function volumeIdentity(v: {
  sizeBytes: number;
  sfdiskDump: string | null;
  partitions: readonly ManifestPartition[];
}): VolumeIdentity {
  return {
    sizeBytes: v.sizeBytes,
    table: v.sfdiskDump === null ? null : tableWithoutDeviceNames(v.sfdiskDump),
    filesystems: v.partitions
      .filter((p) => p.action === 'archived')
      .map((p) => ({
        number: p.number,
        startSector: p.startSector,
        sizeBytes: p.sizeBytes,
        fsType: p.fsType,
        uuid: p.uuid,
        fsSizeBytes: p.fsSizeBytes ?? null,
      })),
  };
}

const tag = (n: number | null): string => `p${n ?? 0}`;

/**
 * Why a backup of a volume with identity `now` cannot be incremental on a backup that saw
 * `before`, or null when it can: each reason names what changed, for the manifest.
 */
export function identityChange(before: VolumeIdentity, now: VolumeIdentity): string | null {
  if (before.sizeBytes !== now.sizeBytes) {
    return `the volume's size changed (${before.sizeBytes} to ${now.sizeBytes} bytes)`;
  }
  if ((before.table === null) !== (now.table === null)) {
    return now.table === null
      ? 'the partition table is gone'
      : 'the volume has a partition table now';
  }
  if (before.table !== now.table) return 'the partition table changed';
  const old = new Map(before.filesystems.map((f) => [f.number, f]));
  for (const f of now.filesystems) {
    const o = old.get(f.number);
    if (o === undefined) return `${tag(f.number)} holds a filesystem the parent did not archive`;
    if (o.fsType !== f.fsType) {
      return `${tag(f.number)} filesystem type changed (${String(o.fsType)} to ${String(f.fsType)})`;
    }
    if (o.uuid !== f.uuid) {
      return `${tag(f.number)} filesystem UUID changed (${String(o.uuid)} to ${String(f.uuid)}): a new filesystem`;
    }
    if (o.startSector !== f.startSector || o.sizeBytes !== f.sizeBytes) {
      return `${tag(f.number)} partition moved or resized`;
    }
    if (o.fsSizeBytes !== f.fsSizeBytes) {
      return `${tag(f.number)} filesystem resized (${String(o.fsSizeBytes)} to ${String(f.fsSizeBytes)} bytes)`;
    }
  }
  if (now.filesystems.length !== before.filesystems.length) {
    return 'a filesystem the parent archived is no longer archived';
  }
  return null;
}

export type SourceRef = Pick<Manifest['source'], 'kind' | 'vg' | 'lv' | 'device'>;

/** Whether two manifests describe the same source (the same LV, or the same device path). */
export function sameSource(a: SourceRef, b: SourceRef): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind === 'lv' ? a.vg === b.vg && a.lv === b.lv : a.device === b.device;
}

/**
 * Why `links` (root first, each the parent of the next) is not an intact chain, or null.
 * Checks the links' ids and levels, that they share a root, a source, an identity and
 * excludes, and that every archived filesystem below the last level has its snapshot file.
 */
export function chainProblem(links: readonly Manifest[]): string | null {
  const root = links[0];
  if (root === undefined) return 'the chain is empty';
  for (const [i, m] of links.entries()) {
    const c = m.chain;
    if (c === undefined) {
      return i === 0 && links.length === 1
        ? null
        : `backup ${m.backupId} was made before chains and has no chain record`;
    }
    if (c.level !== i) return `backup ${m.backupId} has level ${c.level}, expected ${i}`;
    const parent = i === 0 ? null : (links[i - 1] as Manifest);
    if (c.parentId !== (parent?.backupId ?? null)) {
      return `backup ${m.backupId} names parent ${String(c.parentId)}, expected ${String(parent?.backupId ?? null)}`;
    }
    if (c.rootId !== root.backupId) {
      return `backup ${m.backupId} names root ${c.rootId}, expected ${root.backupId}`;
    }
    if (parent === null) continue;
    if (!sameSource(parent.source, m.source)) {
      return `backup ${m.backupId} is of another source than its parent`;
    }
    const changed = identityChange(
      (parent.chain as NonNullable<Manifest['chain']>).identity,
      c.identity,
    );
    if (changed !== null) return `backup ${m.backupId}: ${changed} since its parent`;
    if (JSON.stringify(parent.excludes) !== JSON.stringify(m.excludes)) {
      return `backup ${m.backupId} has other excludes than its parent`;
    }
    for (const p of m.partitions.filter((x) => x.action === 'archived')) {
      const pp = parent.partitions.find((x) => x.number === p.number);
      if (pp?.snapshotFile === undefined) {
        return `backup ${parent.backupId} has no snapshot file for ${tag(p.number)}`;
      }
    }
  }
  return null;
}
