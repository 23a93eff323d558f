/**
 * Reading the INI configuration file (/etc/cinder-lvm-backup/cinder-lvm-backup.conf, or the
 * one `--config FILE` / CLB_CONFIG names) into section → option → text. OpenStack style:
 * `[DEFAULT]`, `[database]`, ...; `;` and `#` start comments, also after a value, so a
 * value holding them is written in double quotes. Options before the first section belong
 * to `[DEFAULT]`.
 */
import { readFile, stat } from 'node:fs/promises';
import { parse } from 'ini';

/** The packaged location; a missing file there is fine (everything from the environment). */
export const DEFAULT_CONFIG_FILE = '/etc/cinder-lvm-backup/cinder-lvm-backup.conf';

export interface ConfigFile {
  path: string;
  /** Section name as written → option → value (null: not one value, e.g. `key[]`). */
  sections: Map<string, Map<string, string | null>>;
  /** True when others than the owner and group may read it. */
  worldReadable: boolean;
}

/** Why a file could not be used. */
export class ConfigFileError extends Error {}

function sectionOf(file: ConfigFile, name: string): Map<string, string | null> {
  let s = file.sections.get(name);
  if (s === undefined) {
    s = new Map();
    file.sections.set(name, s);
  }
  return s;
}

function valueText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return null;
}

/** Parses INI text (pure). */
export function parseConfigText(text: string, path: string): ConfigFile {
  const file: ConfigFile = { path, sections: new Map(), worldReadable: false };
  const doc = parse(text) as Record<string, unknown>;
  for (const [key, value] of Object.entries(doc)) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const section = sectionOf(file, key);
      for (const [option, v] of Object.entries(value as Record<string, unknown>)) {
        section.set(option, valueText(v));
      }
    } else {
      sectionOf(file, 'DEFAULT').set(key, valueText(value));
    }
  }
  return file;
}

/**
 * Reads `path`; null when it does not exist and `mayBeMissing` (the default location).
 * Throws ConfigFileError with the reason otherwise.
 */
export async function readConfigFile(
  path: string,
  mayBeMissing: boolean,
): Promise<ConfigFile | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && mayBeMissing) return null;
    throw new ConfigFileError(
      code === 'ENOENT'
        ? `configuration file ${path} does not exist`
        : `cannot read configuration file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const file = parseConfigText(text, path);
  const mode = (await stat(path)).mode;
  file.worldReadable = (mode & 0o004) !== 0;
  return file;
}
