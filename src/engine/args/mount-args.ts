/**
 * Argument arrays for mount and umount.
 */

/** `mount -t TYPE -o OPTS DEV DIR`. */
export function mountArgs(
  fsType: string,
  options: readonly string[],
  device: string,
  dir: string,
): string[] {
  return ['-t', fsType, '-o', options.join(','), '--', device, dir];
}

/** `umount DIR` (lazy only as a reaper's last resort). */
export function umountArgs(dir: string, lazy = false): string[] {
  return lazy ? ['--lazy', '--', dir] : ['--', dir];
}
