/**
 * Commands run inside the instance, as the one string ssh hands to the remote login shell.
 * Built only from our own constant text and tokens that passed a strict grammar (plain
 * database names, plain absolute paths, numbers); every token is also single-quoted, so a
 * value that somehow slipped past a check would still be one word and run nothing.
 */
import { AppError } from '../errors.js';

const TOKEN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One validated token, single-quoted for a POSIX shell. */
export function quoteToken(token: string): string {
  if (!TOKEN.test(token)) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `refusing to put ${JSON.stringify(token.slice(0, 60))} on a remote command line`,
    );
  }
  return `'${token}'`;
}

/** Marker lines the freeze script prints, so the agent knows where the instance is. */
export const FROZEN_MARK = 'clb-frozen';
export const THAWED_MARK = 'clb-thawed';
/** Exit codes of the freeze script, so a failure says which step failed. */
export const FREEZE_EXIT = { sync: 81, guard: 82, freeze: 83, thaw: 84, notFrozen: 85 } as const;

export interface MysqldumpCommand {
  /** `all` or plain database names (already checked by the policy parser). */
  databases: 'all' | readonly string[];
  /** Option file on the instance with the credentials (relative to the SSH user's home). */
  optionFile: string;
  /** Ask for the binlog position (`--master-data=2`; needs binary logging and RELOAD). */
  binlogPosition: boolean;
  /** The dump program on the instance (`mysqldump`, or `mariadb-dump`). */
  program: string;
}

/** The mysqldump arguments (credentials only from the option file; it must come first). */
export function mysqldumpArgs(c: MysqldumpCommand): string[] {
  return [
    `--defaults-extra-file=${c.optionFile}`,
    '--single-transaction',
    '--quick',
    '--routines',
    '--events',
    '--triggers',
    '--hex-blob',
    ...(c.binlogPosition ? ['--master-data=2'] : []),
    ...(c.databases === 'all' ? ['--all-databases'] : ['--databases', ...c.databases]),
  ];
}

/**
 * The remote script of a dump. mysqldump runs in the background and its exit status is the
 * script's (a signal shows as 128+N, not as ssh's own 255). A watcher reads the session's
 * stdin, which the agent keeps open for the whole dump: end of file means the agent or the
 * connection is gone, and the watcher stops the dump, which would otherwise wait on the
 * server for as long as a lock holds it, long after nobody reads its output.
 */
export function mysqldumpRemoteCommand(c: MysqldumpCommand): string {
  const dump = [quoteToken(c.program), ...mysqldumpArgs(c).map(quoteToken)].join(' ');
  return [
    'exec 3<&0 </dev/null',
    `${dump} 3<&- &`,
    'd=$!',
    '{ cat <&3 >/dev/null; kill -TERM "$d"; } >/dev/null 2>&1 &',
    'w=$!',
    'exec 3<&-',
    'wait "$d"',
    'rc=$?',
    'kill -TERM "$w" 2>/dev/null',
    'exit "$rc"',
  ].join('\n');
}

/**
 * The freeze script. In order: `sync`; start the thaw guard, a process in its own session
 * (so it outlives the SSH connection) that thaws every mount point after `boundSeconds`
 * whatever happens; `fsfreeze -f` each mount point (on a failure, thaw those already
 * frozen); print FROZEN_MARK; wait for a line on stdin (the agent writes one after the
 * snapshot; end of file, when the agent or the connection died, thaws at once); thaw; stop
 * the guard; print THAWED_MARK. The guard's script is constant: the mount points reach it
 * as arguments, never as script text.
 */
export function freezeRemoteScript(mountpoints: readonly string[], boundSeconds: number): string {
  if (mountpoints.length === 0) throw new AppError('INVALID_ARGUMENT', 'no mount point to freeze');
  if (!Number.isInteger(boundSeconds) || boundSeconds < 1 || boundSeconds > 600) {
    throw new AppError('INVALID_ARGUMENT', `freeze bound ${boundSeconds} s is not 1..600`);
  }
  const mps = mountpoints.map(quoteToken).join(' ');
  const guard = `sleep "$1"; shift; for m in "$@"; do fsfreeze -u "$m"; done`;
  return [
    `sync || exit ${FREEZE_EXIT.sync}`,
    `setsid sh -c '${guard}' clb-thaw-guard ${quoteToken(String(boundSeconds))} ${mps} </dev/null >/dev/null 2>&1 &`,
    'g=$!',
    `[ -n "$g" ] || exit ${FREEZE_EXIT.guard}`,
    "f=''",
    `for m in ${mps}; do`,
    `  if fsfreeze -f "$m"; then f="$f $m"; else for t in $f; do fsfreeze -u "$t"; done; kill -TERM -- -"$g" 2>/dev/null; exit ${FREEZE_EXIT.freeze}; fi`,
    'done',
    `echo ${FROZEN_MARK}`,
    'read -r reply',
    'rc=0',
    `for m in ${mps}; do`,
    `  out=$(fsfreeze -u "$m" 2>&1) || { echo "$out" >&2; case "$out" in *"Invalid argument"*) rc=${FREEZE_EXIT.notFrozen};; *) rc=${FREEZE_EXIT.thaw};; esac; }`,
    'done',
    'kill -TERM -- -"$g" 2>/dev/null',
    `echo ${THAWED_MARK}`,
    'exit $rc',
  ].join('\n');
}

const REMOTE_PATH = /^[A-Za-z0-9._@+/-]{1,255}$/;

/**
 * A path inside the instance (the mysqldump option file): absolute, or relative to the SSH
 * user's home (where a remote command starts); safe characters only, no `..`.
 */
export function assertRemotePath(path: string): string {
  if (!REMOTE_PATH.test(path) || path.split('/').includes('..') || path.startsWith('-')) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `option file path ${JSON.stringify(path.slice(0, 80))} is not a plain path`,
    );
  }
  return path;
}
