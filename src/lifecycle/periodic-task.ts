/**
 * The one periodic loop: runs an async task now and then `intervalSeconds` after each run
 * ends, never two runs at once; stop() waits for a run in progress. A failed run is logged
 * (with its error object) and the next one comes on time. The controller's scheduler and
 * housekeeping and the inventory poller run on it.
 */
import type { Logger } from '../log.js';

export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private active = false;
  runs = 0;
  failures = 0;

  constructor(
    readonly name: string,
    private readonly intervalSeconds: number,
    private readonly task: () => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.active) return;
    this.active = true;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (!this.active) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => this.schedule(this.intervalSeconds * 1000));
    }, ms);
  }

  private async runOnce(): Promise<void> {
    try {
      await this.task();
      this.runs += 1;
    } catch (err) {
      this.failures += 1;
      this.log.warn({ task: this.name, err }, 'periodic task failed');
    }
  }

  async stop(): Promise<void> {
    this.active = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
