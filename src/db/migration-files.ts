/**
 * The migration files: `NNNN_name.sql` in src/db/migrations (copied to dist/db/migrations
 * by the build), found next to this module so both vitest (src) and node (dist) see them.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.js';

export interface MigrationFile {
  /** The number in front of the name; migrations run in ascending order. */
  number: number;
  /** File name, e.g. `0001_catalog.sql`. */
  name: string;
  sql: string;
  /** sha256 of the file, recorded in the ledger to spot an edited migration. */
  checksum: string;
}

const NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** Where the migrations live relative to this module (src/db or dist/db). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * Parses and orders migration file names; other files are ignored. Two files with the
 * same number are a bug (two engineers picked the same one) and fail loudly.
 */
export function orderMigrationNames(names: readonly string[]): { number: number; name: string }[] {
  const found = names
    .map((name) => ({ name, m: NAME.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map(({ name, m }) => ({ number: Number(m[1]), name }))
    .sort((a, b) => a.number - b.number);
  for (let i = 1; i < found.length; i += 1) {
    if (found[i]?.number === found[i - 1]?.number) {
      throw new AppError(
        'INTERNAL',
        `two migrations share number ${found[i]?.number}: ${found[i - 1]?.name}, ${found[i]?.name}`,
      );
    }
  }
  return found;
}

/** Reads every migration in `dir`, ordered by number. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new AppError('INTERNAL', `cannot read migrations directory ${dir}`, { cause: err });
  }
  const ordered = orderMigrationNames(names);
  return Promise.all(
    ordered.map(async ({ number, name }) => {
      const sql = await readFile(`${dir}/${name}`, 'utf8');
      return { number, name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}
