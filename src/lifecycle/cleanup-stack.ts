/**
 * A LIFO stack of undo steps. Everything that is set up registers how it is torn down; on
 * unwind every step runs, in reverse order, even when an earlier one fails, and each
 * outcome is reported.
 */
export interface CleanupOutcome {
  name: string;
  ok: boolean;
  error?: unknown;
  durationMs: number;
}

interface Entry {
  name: string;
  undo: () => Promise<void>;
}

export class CleanupStack {
  private readonly entries: Entry[] = [];

  /** Registers an undo step; returns a function that drops it (when the step was undone early). */
  push(name: string, undo: () => Promise<void>): () => void {
    const entry = { name, undo };
    this.entries.push(entry);
    return () => {
      const i = this.entries.lastIndexOf(entry);
      if (i >= 0) this.entries.splice(i, 1);
    };
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Runs every registered step, newest first; never throws. `afterStep` is told each step
   * that was undone (the crash tests' hook, lifecycle/step-pause.ts).
   */
  async unwind(afterStep?: (name: string) => void): Promise<CleanupOutcome[]> {
    const outcomes: CleanupOutcome[] = [];
    while (this.entries.length > 0) {
      const entry = this.entries.pop() as Entry;
      const started = Date.now();
      try {
        await entry.undo();
        outcomes.push({ name: entry.name, ok: true, durationMs: Date.now() - started });
        afterStep?.(entry.name);
      } catch (error) {
        outcomes.push({ name: entry.name, ok: false, error, durationMs: Date.now() - started });
      }
    }
    return outcomes;
  }
}
