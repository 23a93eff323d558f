/**
 * Argument arrays for the job's private mount namespace (mount-namespace.ts). Pure.
 */

/**
 * `unshare --mount --propagation private -- sleep infinity`: a process that only holds a
 * new mount namespace open. Private propagation: nothing mounted inside reaches the node's
 * namespace, and nothing mounted on the node later appears inside.
 */
export function namespaceHolderArgs(): { program: string; args: string[] } {
  return {
    program: 'unshare',
    args: ['--mount', '--propagation', 'private', '--', 'sleep', 'infinity'],
  };
}

/**
 * `nsenter --target PID --mount --wd=DIR -- PROGRAM ARGS...`: runs a program inside the
 * namespace held by PID. nsenter execs it (no fork for a mount namespace alone), so the
 * process keeps the program's name and arguments, which the reaper recognises.
 */
export function inNamespaceArgs(
  pid: number,
  wd: string,
  program: string,
  args: readonly string[],
): { program: string; args: string[] } {
  return {
    program: 'nsenter',
    args: [`--target=${pid}`, '--mount', `--wd=${wd}`, '--', program, ...args],
  };
}
