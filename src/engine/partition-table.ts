/**
 * Reading a device's partition table: `sfdisk --json` for the data and `sfdisk --dump`
 * saved verbatim for restore.
 */
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import { sfdiskDumpArgs, sfdiskJsonArgs } from './args/device-args.js';
import { parseSfdiskJson, type PartitionTable } from './parse/sfdisk.js';

export interface TableRead {
  table: PartitionTable;
  dump: string;
}

/** Reads the table of a device blkid reported a PTTYPE for. */
export async function readPartitionTable(device: string, run: RunOptions = {}): Promise<TableRead> {
  try {
    const json = await runCommand('sfdisk', sfdiskJsonArgs(device), run);
    const dump = await runCommand('sfdisk', sfdiskDumpArgs(device), run);
    return { table: parseSfdiskJson(json.stdout), dump: dump.stdout };
  } catch (err) {
    if (err instanceof AppError && err.code !== 'COMMAND_FAILED') throw err;
    throw new AppError('PARTITION_FAILED', `cannot read the partition table of ${device}`, {
      cause: err,
    });
  }
}
