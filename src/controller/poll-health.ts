/**
 * Whether the inventory polls of this controller are failing, for /readyz: a run of failed
 * polls since the last good one, with the error code of the latest. A controller that does
 * not poll (a standby, or one without OpenStack credentials) has nothing to report.
 */
export class PollHealth {
  private failures = 0;
  private failingSince: Date | null = null;
  private lastCode: string | null = null;

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** One poll ended: `errorCode` null when it succeeded. */
  record(errorCode: string | null): void {
    if (errorCode === null) {
      this.failures = 0;
      this.failingSince = null;
      this.lastCode = null;
      return;
    }
    this.failures += 1;
    this.failingSince ??= this.now();
    this.lastCode = errorCode;
  }

  /** This controller stopped polling (it is a standby now): nothing to report. */
  reset(): void {
    this.record(null);
  }

  /** Null while polls succeed; otherwise the latest error code and what is wrong. */
  problem(): { code: string; message: string } | null {
    if (this.failures === 0 || this.failingSince === null) return null;
    return {
      code: this.lastCode ?? 'INTERNAL',
      message:
        `${this.failures} inventory poll(s) in a row failed, since ` +
        `${this.failingSince.toISOString()}; the inventory keeps its last good state`,
    };
  }
}
