/**
 * A test hook for crash tests: named points in the backup and restore pipeline where a test
 * can freeze the process so that its SIGKILL provably lands there (the storage-node guest's
 * agent-kill scenario). Off unless cli.ts was given a point name (CLB_TEST_PAUSE_AT): then,
 * on reaching that point, the process writes `<pid> <point>` to the ready file
 * (CLB_TEST_PAUSE_READY) and blocks its whole event loop for good. Nothing of the process
 * moves after that (children it started run on, as they would when it is killed), so what
 * the test finds after the kill is what a crash at that point leaves.
 *
 * The points: `snapshot` (after lvcreate), `kpartx` (after the partition maps), `mount:pN`
 * (after each mount), `archive:FILE` (bytes of FILE stored, the producer still running),
 * `commit:FILE` (FILE fsynced, not renamed), `commit-dir` (the backup directory fsynced, not
 * renamed), `cleanup:WORD` (after the first cleanup step whose name starts with WORD, e.g.
 * `cleanup:umount`); restore: `mkfs:pN` (mkfs started, not finished), `extract:FILE` (bytes
 * of FILE read, tar running).
 */
import { writeFileSync } from 'node:fs';

let pauseAt: string | null = null;
let readyFile: string | null = null;

/** Arms the hook (cli.ts only); an empty or missing name disarms it. */
export function setStepPause(point: string | undefined, ready: string | undefined): void {
  pauseAt = point === undefined || point === '' ? null : point;
  readyFile = ready === undefined || ready === '' ? null : ready;
}

/** Marks a point: returns at once unless the hook is armed for exactly this point. */
export function stepPoint(point: string): void {
  if (pauseAt === null || point !== pauseAt) return;
  pauseAt = null;
  if (readyFile !== null) writeFileSync(readyFile, `${process.pid} ${point}\n`);
  // Blocks this thread until the process is killed (nothing ever notifies the cell).
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
