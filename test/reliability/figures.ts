/**
 * Helpers shared by the reliability scenarios: the figures line each scenario prints, and
 * waits that give up after a bound.
 */

/**
 * Prints a scenario's figures, one line, prefixed so a run's lines can be picked out of the
 * test output (`grep '^figures '`).
 */
export function printFigures(scenario: string, figures: string): void {
  console.log(`figures ${scenario}: ${figures}`);
}

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `fn` again (up to `times`) when it throws: queries of the test itself while the
 * server kills its connections. */
export async function retrying<T>(fn: () => Promise<T>, times = 50, pauseMs = 200): Promise<T> {
  for (let i = 1; ; i += 1) {
    try {
      return await fn();
    } catch (err) {
      if (i >= times) throw err;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}
