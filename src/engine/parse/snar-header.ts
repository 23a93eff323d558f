/**
 * The header of GNU tar's listed-incremental snapshot file, format 2 (tar ≥ 1.20):
 * `GNU tar-<version>-2\n<seconds>\0<nanoseconds>\0` then the directory records. The time
 * is when the dump started; the next level dumps every file whose mtime or ctime is not
 * older than it.
 *
 * tar takes its own clock at start, but the copy it reads was frozen earlier (the snapshot
 * was made, then mapped and mounted): a file changed on the origin in between is in
 * neither that backup nor, by its time, the next one. So the engine writes the instant
 * the copy was frozen into the header instead.
 */
import { AppError } from '../../errors.js';

const MAGIC = /^GNU tar-[0-9.]+-2\n/;

function bad(why: string): AppError {
  return new AppError('ARCHIVE_FAILED', `tar snapshot file: ${why}`);
}

/** The dump time a snapshot file records, in milliseconds since the epoch. */
export function snarTime(data: Buffer): number {
  const { seconds, nanos } = fields(data);
  return seconds * 1000 + Math.floor(nanos / 1e6);
}

function fields(data: Buffer): { seconds: number; nanos: number; end: number; start: number } {
  const head = data.subarray(0, 64).toString('latin1');
  const magic = MAGIC.exec(head);
  if (magic === null) throw bad('not a format-2 snapshot file');
  const start = magic[0].length;
  const m = /^(\d{1,20})\0(\d{1,9})\0/.exec(head.slice(start));
  if (m === null) throw bad('no dump time after the header');
  return {
    seconds: Number(m[1]),
    nanos: Number(m[2]),
    start,
    end: start + m[0].length,
  };
}

/** Where the directory records start (after the header and the dump time). */
export function snarRecordsOffset(data: Buffer): number {
  return fields(data).end;
}

/** A copy of `data` whose dump time is `atMs` (never later than the time it had). */
export function withSnarTime(data: Buffer, atMs: number): Buffer {
  const f = fields(data);
  const had = f.seconds * 1000 + Math.floor(f.nanos / 1e6);
  const use = Math.min(had, Math.floor(atMs));
  const seconds = Math.floor(use / 1000);
  const nanos = (use - seconds * 1000) * 1e6;
  return Buffer.concat([
    data.subarray(0, f.start),
    Buffer.from(`${seconds}\0${nanos}\0`, 'latin1'),
    data.subarray(f.end),
  ]);
}
