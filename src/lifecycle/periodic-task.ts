/**
 * The one periodic loop: runs an async task now and then `intervalSeconds` after each run
 * ends, never two runs at once; stop() waits for a run in progress. A failed run is logged
 * (with its error object) and the next one comes on time. The task gets a signal that stop()
 * aborts, so a long run (a pass of Nova look-ups) ends early. The controller's scheduler,
 * housekeeping, mail reports, inventory poller and instance resolver run on it.
 */
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';

export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private active = false;
  private abort = new AbortController();
  runs = 0;
  failures = 0;

  constructor(
    readonly name: string,
    private readonly intervalSeconds: number,
    private readonly task: (signal: AbortSignal) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.active) return;
    this.active = true;
    this.abort = new AbortController();
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
      await this.task(this.abort.signal);
      this.runs += 1;
    } catch (err) {
      this.failures += 1;
      this.log.warn({ task: this.name, err }, 'periodic task failed');
    }
  }

  async stop(): Promise<void> {
    this.active = false;
    this.abort.abort(new AppError('ABORTED', `${this.name} is stopping`));
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
