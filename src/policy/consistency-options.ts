/**
 * `backup:mysqldump`, `backup:freeze` and `backup:consistency`: application-consistency
 * options, run by src/consistency/ (SSH into the instance). Values come from tenants and
 * reach a remote command line, so they are held to strict grammars.
 */
import { isLevel, LEVELS, type Level } from './consistency-levels.js';

/** Which databases to dump before the snapshot. */
export interface MysqldumpOption {
  databases: 'all' | string[];
}

/** Which mount points inside the instance to freeze around the snapshot. */
export interface FreezeOption {
  mountpoints: string[];
}

export type OptionParse<T> = { ok: true; value: T | null } | { ok: false; reason: string };

const OFF = new Set(['off', 'false', 'no', '0', 'disabled']);
const ALL = new Set(['on', 'true', 'yes', '1', 'all', 'enabled']);
// MySQL identifiers may hold more, but a backup tag has no reason to: plain names only
// (letters, digits, _ -); no `$`, quotes or spaces, which mean something to a shell.
const DB_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Plain absolute paths of safe characters only; no globbing, quoting or spaces.
const MOUNTPOINT = /^\/[A-Za-z0-9._@+/-]{0,254}$/;

/** `all`/`true`, `off`, or a comma-separated list of database names. */
export function parseMysqldump(value: string): OptionParse<MysqldumpOption> {
  const text = value.trim();
  if (OFF.has(text.toLowerCase())) return { ok: true, value: null };
  if (ALL.has(text.toLowerCase())) return { ok: true, value: { databases: 'all' } };
  const names = text.split(',').map((n) => n.trim());
  if (names.length > 32)
    return { ok: false, reason: 'backup:mysqldump lists more than 32 databases' };
  for (const n of names) {
    if (!DB_NAME.test(n) || n.startsWith('-')) {
      return {
        ok: false,
        reason: `backup:mysqldump database ${JSON.stringify(n.slice(0, 70))} is not a plain name (letters, digits, _ -)`,
      };
    }
  }
  return { ok: true, value: { databases: [...new Set(names)] } };
}

/** `off`, or a comma-separated list of absolute mount points inside the instance. */
export function parseFreeze(value: string): OptionParse<FreezeOption> {
  const text = value.trim();
  if (OFF.has(text.toLowerCase())) return { ok: true, value: null };
  const paths = text.split(',').map((p) => p.trim());
  if (paths.length > 16)
    return { ok: false, reason: 'backup:freeze lists more than 16 mount points' };
  for (const p of paths) {
    const segments = p.split('/');
    if (!MOUNTPOINT.test(p) || segments.includes('..') || segments.includes('.')) {
      return {
        ok: false,
        reason: `backup:freeze mount point ${JSON.stringify(p.slice(0, 70))} is not a plain absolute path`,
      };
    }
    if (p === '/') {
      // Freezing the root filesystem of a live instance can hang the SSH session that thaws it.
      return { ok: false, reason: 'backup:freeze cannot freeze "/"' };
    }
  }
  return { ok: true, value: { mountpoints: [...new Set(paths)] } };
}

/** `crash`, `filesystem` or `application`: the level a backup must reach. */
export function parseConsistency(value: string): OptionParse<Level> {
  const text = value.trim().toLowerCase();
  if (isLevel(text)) return { ok: true, value: text };
  return {
    ok: false,
    reason: `backup:consistency must be one of ${LEVELS.join(', ')} (got ${JSON.stringify(value.slice(0, 40))})`,
  };
}
