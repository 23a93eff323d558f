/**
 * What a killed appliance backup (isolation `appliance`) leaves, recognised by markers we
 * set ourselves, never by a program's name. guestfish is started with APPLIANCE_RUN_ENV set
 * to the run directory; its helpers (libguestfs's recovery process, qemu) inherit that
 * environment. libguestfs keeps a handle's files in `libguestfsXXXXXX` directories (the
 * qcow2 overlay of the read-only drive in its tmpdir; the daemon and console sockets in its
 * sockdir, always /tmp for root: lib/tmpdirs.c guestfs_impl_get_sockdir) and removes them
 * only when guestfish closes the handle, which a SIGKILL never lets it do; qemu's command
 * line names both. Pure.
 */

/** The environment variable that marks the processes of a run's appliance. */
export const APPLIANCE_RUN_ENV = 'CLB_APPLIANCE_RUN_DIR';

/** Whether a process environment (`NAME=value` entries) marks it as `runDir`'s appliance. */
export function isApplianceOf(environ: readonly string[], runDir: string): boolean {
  return environ.includes(`${APPLIANCE_RUN_ENV}=${runDir}`);
}

const TEMP_DIR = /\/(?:[A-Za-z0-9._-]+\/)*libguestfs[A-Za-z0-9]{6}(?=\/|,|$)/g;

/**
 * The libguestfs temporary directories a command line names (absolute, without `..`):
 * e.g. `file=/tmp/libguestfsAbC123/overlay1.qcow2` gives `/tmp/libguestfsAbC123`.
 */
export function libguestfsTempDirs(args: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const arg of args) {
    for (const m of arg.matchAll(TEMP_DIR)) {
      const start = m.index;
      // Only a path that starts the argument or follows '=' or ',' (an option's value).
      if (start > 0 && !/[=,]/.test(arg[start - 1] as string)) continue;
      if (m[0].split('/').includes('..')) continue;
      dirs.add(m[0]);
    }
  }
  return [...dirs].sort();
}
