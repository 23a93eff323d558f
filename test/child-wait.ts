/**
 * Waits on what a child process (a controller, an agent) does: a log line it writes or a row
 * it changes. CI runs the other test files while two QEMU guests hold both cores; at load 18
 * and more a controller took longer than the former fixed 20 s to log its first lines
 * (NOTE-dedup, 2026-12-02). So the bound is generous but finite, and a wait that gives up
 * shows the child's last output instead of only its own name.
 */

/** How long a test waits for one thing a child process does. */
export const CHILD_WAIT_MS = 90_000;

/**
 * The timeout of a test that waits on a child process: longer than one wait, so that a stuck
 * wait fails with its own message (and the child's output), not with vitest's timeout.
 */
export const CHILD_TEST_TIMEOUT_MS = CHILD_WAIT_MS + 60_000;

/** Characters of a child's output a failed wait shows. */
const TAIL_CHARS = 2000;

export interface ChildWaitOptions {
  /** The child's output so far (stderr, the pino lines); its tail goes into the error. */
  output: () => string;
  timeoutMs?: number;
  everyMs?: number;
  /**
   * True once the child can no longer bring the condition about (it exited and its output
   * is closed): the wait then fails at once instead of at the bound.
   */
  gone?: () => boolean;
}

/**
 * Polls `check` until it holds and returns the milliseconds that took. Throws after
 * `timeoutMs` (default {@link CHILD_WAIT_MS}), or as soon as `gone()` is true, naming `what`
 * and showing the tail of the child's output.
 */
export async function waitForChild(
  what: string,
  check: () => Promise<boolean> | boolean,
  opts: ChildWaitOptions,
): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? CHILD_WAIT_MS;
  const t0 = Date.now();
  for (;;) {
    // Read `gone` before the check: output that arrived before the close is then seen.
    const gone = opts.gone?.() ?? false;
    if (await check()) return Date.now() - t0;
    const elapsed = Date.now() - t0;
    if (gone || elapsed > timeoutMs) {
      const why = gone ? `the process ended after ${elapsed} ms` : `not within ${timeoutMs} ms`;
      throw new Error(
        `timed out waiting for ${what} (${why}); last output:\n${opts.output().slice(-TAIL_CHARS)}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}
