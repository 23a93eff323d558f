/**
 * LVM operations of a backup: look up LVs and VGs, make and remove our snapshot.
 */
import { CommandError, commandFailedWith } from '../exec/command-error.js';
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

/** What lvs/vgs write to stderr when the LV or VG is not there. */
const NOT_FOUND = /not found|Failed to find|doesn't exist|does not exist/i;
/** What lvcreate writes when the VG or thin pool lacks room for the snapshot. */
const NO_SPACE = /insufficient|not enough|free extents|Out of space/i;

/** The LV `vg/lv`, or null when LVM says it (or its VG) does not exist. */
export async function findLv(vg: string, lv: string, run: RunOptions = {}): Promise<LvInfo | null> {
  try {
    const r = await runCommand('lvs', lvsArgs({ vg, lv }), run);
    return parseLvsJson(r.stdout).find((x) => x.vg === vg && x.name === lv) ?? null;
  } catch (err) {
    if (commandFailedWith(err, NOT_FOUND)) return null;
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
    if (!commandFailedWith(err, NOT_FOUND)) throw err;
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
    if (!(err instanceof CommandError && err.code === 'COMMAND_FAILED')) throw err;
    throw new AppError(
      NO_SPACE.test(err.stderr) ? 'NO_SNAPSHOT_SPACE' : 'SNAPSHOT_FAILED',
      `cannot snapshot ${opts.vg}/${opts.origin}: ${err.message}`,
      { cause: err },
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
