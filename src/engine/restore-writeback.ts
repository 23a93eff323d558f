/**
 * Writing a filesystem's data out while tar is still filling it. Without it the kernel
 * keeps what tar wrote in the page cache (below the dirty thresholds, a 1.5 GB restore on
 * a 24 GB node stays in memory) and the final syncfs writes it all at once, after the
 * extraction. A syncfs every second instead lets the device write while zstd and tar work.
 * The final syncfs before the unmount is unchanged: it is what makes the restore durable.
 */
import { runCommand } from '../exec/run-command.js';
import { sleep } from '../lifecycle/sleep.js';
import type { Logger } from '../log.js';

/** Pause between the end of one syncfs and the start of the next. */
export const WRITEBACK_INTERVAL_MS = 1_000;

export interface Writeback {
  /**
   * Stops the loop after the syncfs under way, if any. Throws that syncfs's error or an
   * earlier one: a write error seen here would not reach a later syncfs (each `sync`
   * process opens the filesystem anew and is told only of errors after its open).
   */
  stop(): Promise<{ syncs: number; ms: number }>;
}

/** Starts syncfs of the filesystem mounted at `mountpoint` every `intervalMs`. */
export function startWriteback(
  mountpoint: string,
  run: { logger: Logger; signal?: AbortSignal },
  intervalMs = WRITEBACK_INTERVAL_MS,
): Writeback {
  const stopping = new AbortController();
  let syncs = 0;
  let ms = 0;
  const loop = (async () => {
    while (await sleep(intervalMs, stopping.signal)) {
      const started = Date.now();
      await runCommand('sync', ['--file-system', mountpoint], run);
      ms += Date.now() - started;
      syncs++;
    }
  })();
  // Seen by stop(); until then a failure must not be an unhandled rejection.
  loop.catch(() => undefined);
  return {
    async stop() {
      stopping.abort();
      await loop;
      return { syncs, ms };
    },
  };
}
