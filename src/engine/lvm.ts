/**
 * LVM operations of a backup: look up LVs and VGs, make and remove our snapshot.
 */
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import {
  lvchangeActivateArgs,
  lvcreateSnapshotArgs,
  lvremoveArgs,
  lvsArgs,
  vgsArgs,
} from './args/lvm-args.js';
import { parseLvsJson, parseVgsJson, type LvInfo, type VgInfo } from './parse/lvs-report.js';
import { withBusyRetries } from './retry.js';

const NOT_FOUND = /not found|Failed to find|doesn't exist|does not exist/i;

function stderrOf(err: unknown): string {
  if (err instanceof AppError) return `${err.message} ${JSON.stringify(err.details ?? {})}`;
  return String(err);
}

/** The LV `vg/lv`, or null when LVM says it (or its VG) does not exist. */
export async function findLv(vg: string, lv: string, run: RunOptions = {}): Promise<LvInfo | null> {
  try {
    const r = await runCommand('lvs', lvsArgs({ vg, lv }), run);
    return parseLvsJson(r.stdout).find((x) => x.vg === vg && x.name === lv) ?? null;
  } catch (err) {
    if (err instanceof AppError && err.code === 'COMMAND_FAILED' && NOT_FOUND.test(stderrOf(err))) {
      return null;
    }
    throw err;
  }
}

/** Every LV LVM knows of (for the reaper). */
export async function listLvs(run: RunOptions = {}): Promise<LvInfo[]> {
  const r = await runCommand('lvs', lvsArgs(), run);
  return parseLvsJson(r.stdout);
}

/** The VG `vg`; LV_NOT_FOUND when it does not exist. */
export async function getVg(vg: string, run: RunOptions = {}): Promise<VgInfo> {
  try {
    const r = await runCommand('vgs', vgsArgs(vg), run);
    const found = parseVgsJson(r.stdout).find((x) => x.name === vg);
    if (found) return found;
  } catch (err) {
    if (!(err instanceof AppError && NOT_FOUND.test(stderrOf(err)))) throw err;
  }
  throw new AppError('LV_NOT_FOUND', `volume group ${vg} does not exist`);
}

/** Creates the snapshot (thick with `cowBytes`, thin with null) and activates a thin one. */
export async function createSnapshot(
  opts: { vg: string; origin: string; name: string; tags: string[]; cowBytes: number | null },
  run: RunOptions = {},
): Promise<void> {
  try {
    await runCommand('lvcreate', lvcreateSnapshotArgs(opts), run);
    if (opts.cowBytes === null) {
      await runCommand('lvchange', lvchangeActivateArgs(opts.vg, opts.name), run);
    }
  } catch (err) {
    if (err instanceof AppError && err.code !== 'COMMAND_FAILED') throw err;
    const text = stderrOf(err);
    const code = /insufficient|not enough|free extents|Out of space/i.test(text)
      ? 'NO_SNAPSHOT_SPACE'
      : 'SNAPSHOT_FAILED';
    throw new AppError(
      code,
      `cannot snapshot ${opts.vg}/${opts.origin}: ${err instanceof Error ? err.message : text}`,
      {
        cause: err,
      },
    );
  }
}

/** Removes `vg/lv` if it exists, retrying while it is still in use. */
export async function removeLvIfPresent(
  vg: string,
  lv: string,
  run: RunOptions = {},
): Promise<boolean> {
  if ((await findLv(vg, lv, run)) === null) return false;
  await withBusyRetries(async () => {
    await runCommand('lvremove', lvremoveArgs(vg, lv), run);
  }, 8);
  return true;
}
