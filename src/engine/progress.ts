/**
 * How far a backup or a restore has got, as its steps report it: the CLI draws a bar from
 * it, the agent records an event per phase and logs the figures at an interval.
 */
export interface Progress {
  /** What runs now: `snapshot`, `archive p1`, `restore p2`, `done p1`, … */
  phase: string;
  bytesDone: number;
  /** Null while the total is not known yet (before the filesystems are mounted). */
  bytesTotal: number | null;
}
