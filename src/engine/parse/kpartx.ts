/**
 * kpartx names. kpartx names the map of partition N of dm device NAME `NAME` + `p` + N when
 * NAME ends in a digit and `NAME` + N otherwise (so `vg-lv1` gives `vg-lv1p1` but
 * `vg-lva` gives `vg-lva1`). The names are predicted with `kpartx -l` and matched to the
 * partition table by start sector, never by guessing the suffix.
 */

export interface KpartxMapping {
  /** Name of the map under /dev/mapper. */
  name: string;
  /** Size and start of the partition in 512-byte sectors. */
  sizeSectors: number;
  startSector: number;
  /** The device the map points into, as kpartx prints it. */
  device: string;
}

/** Parses `kpartx -l DEV` (and `-av`'s "add map" lines): `NAME : 0 SIZE DEV START`. */
export function parseKpartxList(text: string): KpartxMapping[] {
  const out: KpartxMapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^(?:add map\s+)?(\S+)\s*:?\s+0\s+(\d+)\s+(\S+)\s+(\d+)\s*$/.exec(
      line.trim().replace(/\s+:\s+/, ' : '),
    );
    if (!m) continue;
    out.push({
      name: m[1] as string,
      sizeSectors: Number(m[2]),
      device: m[3] as string,
      startSector: Number(m[4]),
    });
  }
  return out;
}

/** The map name kpartx gives partition `n` of the dm device `dmName` (the `p` rule). */
export function kpartxPartitionName(dmName: string, n: number): string {
  return /\d$/.test(dmName) ? `${dmName}p${n}` : `${dmName}${n}`;
}

/** Whether `mapName` is one of the partition maps kpartx would make for `dmName`. */
export function isKpartxMapOf(dmName: string, mapName: string): boolean {
  if (!mapName.startsWith(dmName)) return false;
  const rest = mapName.slice(dmName.length);
  return /\d$/.test(dmName) ? /^p\d+$/.test(rest) : /^\d+$/.test(rest);
}

/** Finds the mapping that starts at `startSector` (the table's view of a partition). */
export function mappingForStart(
  mappings: readonly KpartxMapping[],
  startSector: number,
): KpartxMapping | undefined {
  return mappings.find((m) => m.startSector === startSector);
}
