/**
 * guestfish for the appliance isolation (archive-appliance.ts): its argument array, the
 * command lines written to its stdin, and the parsers of what it prints back.
 *
 * guestfish reads one command a line and splits it into words itself, so every word we
 * send is quoted: a double-quoted word with each byte outside a small safe set written as
 * `\xhh` (guestfish's escape). A string-list argument (tar-out's `excludes:`) is one such
 * word holding a whitespace-separated list in which an element with a space is wrapped in
 * single quotes (guestfish's list syntax); an element holding a quote is refused, since the
 * list syntax would need an escape the double-quoted layer also interprets.
 */
import { AppError } from '../../errors.js';

/** guestfish on `device`, read-only (writes go to a throw-away overlay), raw format. */
export function guestfishArgs(device: string): string[] {
  // --ro: the drive is added read-only and the appliance's writes (a journal replay) land
  // in a temporary overlay; --format=raw: never probe the tenant's bytes for a disk format.
  return ['--ro', '--format=raw', '-a', device];
}

const SAFE_BYTE = /[A-Za-z0-9/._+-]/;

/** One guestfish word: double-quoted, every byte outside [A-Za-z0-9/._+-] as `\xhh`. */
export function guestfishWord(text: string): string {
  if (text.includes('\0')) throw new AppError('INTERNAL', 'a guestfish word holds a NUL');
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE_BYTE.test(ch) ? ch : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out + '"';
}

/** A guestfish string list (before word quoting): elements with whitespace single-quoted. */
export function guestfishList(items: readonly string[]): string {
  return items
    .map((item) => {
      if (/['"]/.test(item)) {
        throw new AppError(
          'INVALID_EXCLUDE',
          `exclude pattern ${JSON.stringify(item)} holds a quote, which the appliance's tar-out cannot be given`,
        );
      }
      return /\s/.test(item) ? `'${item}'` : item;
    })
    .join(' ');
}

/** A command line: the command name as is, each argument quoted. */
export function guestfishLine(command: string, args: readonly string[] = []): string {
  if (!/^[a-z][a-z0-9-]*$/.test(command)) {
    throw new AppError('INTERNAL', `not a guestfish command: ${JSON.stringify(command)}`);
  }
  return [command, ...args.map(guestfishWord)].join(' ');
}

/**
 * `tar-out / OUTPUT` with owners as numbers, xattrs and ACLs, without `./lost+found` and the
 * backup's excludes (already tar patterns, `./…`, see toTarExcludes). No `--sparse`: tar-out
 * has no such option, so holes are stored as zeros and come back dense.
 */
export function tarOutLine(output: string, excludes: readonly string[]): string {
  return guestfishLine('tar-out', [
    '/',
    output,
    'numericowner:true',
    'xattrs:true',
    'acls:true',
    `excludes:${guestfishList(['./lost+found', ...excludes])}`,
  ]);
}

/** `list-filesystems`: `/dev/sda1: ext4` lines → device → type (null for `unknown`). */
export function parseListFilesystems(lines: readonly string[]): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const line of lines) {
    const m = /^(\/dev\/\S+): (\S*)$/.exec(line.trim());
    if (m === null) {
      if (line.trim() === '') continue;
      throw new AppError('ARCHIVE_FAILED', `unexpected list-filesystems line: ${line}`);
    }
    const type = m[2] as string;
    out.set(m[1] as string, type === '' || type === 'unknown' ? null : type);
  }
  return out;
}

/** `statvfs /` → the figures the host takes from statfs (filesystemFigures in mounts.ts). */
export function parseStatvfs(lines: readonly string[]): {
  fsSizeBytes: number;
  usedBytes: number;
  inodesUsed: number;
} {
  const v = new Map<string, number>();
  for (const line of lines) {
    const m = /^\s*(\w+): (\d+)$/.exec(line);
    if (m !== null) v.set(m[1] as string, Number(m[2]));
  }
  const get = (k: string): number => {
    const n = v.get(k);
    if (n === undefined) throw new AppError('ARCHIVE_FAILED', `statvfs printed no ${k}`);
    return n;
  };
  const bsize = get('bsize');
  return {
    fsSizeBytes: get('blocks') * bsize,
    usedBytes: (get('blocks') - get('bfree')) * bsize,
    inodesUsed: Math.max(0, get('files') - get('ffree')),
  };
}

/** The appliance's device for partition `n` of the one disk it has (`/dev/sda` whole). */
export function applianceDevice(n: number | null): string {
  return n === null ? '/dev/sda' : `/dev/sda${n}`;
}
