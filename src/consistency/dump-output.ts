/**
 * What the agent reads from a dump as it streams past: the first bytes (where
 * `--master-data=2` writes the binlog position) and the last bytes (where mysqldump writes
 * `-- Dump completed` once everything was written). Parsing is pure.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { BinlogPosition } from '../engine/manifest.js';

const HEAD_BYTES = 64 * 1024;
const TAIL_BYTES = 512;

/** Passes the stream through, keeping its head and tail. */
export class DumpTap extends Transform {
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private seen = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.head.length < HEAD_BYTES) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_BYTES - this.head.length)]);
    }
    this.tail = Buffer.concat([this.tail, chunk]);
    if (this.tail.length > TAIL_BYTES)
      this.tail = this.tail.subarray(this.tail.length - TAIL_BYTES);
    cb(null, chunk);
  }

  bytesSeen(): number {
    return this.seen;
  }

  headText(): string {
    return this.head.toString('utf8');
  }

  tailText(): string {
    return this.tail.toString('utf8');
  }
}

/** True when the dump ends with mysqldump's completion comment (it is written last). */
export function dumpCompleted(tail: string): boolean {
  return /-- Dump completed(?: on [^\n]*)?\n?$/.test(tail);
}

/** The binlog position of a `--master-data=2` comment, or null when the dump has none. */
export function parseBinlogPosition(head: string): BinlogPosition | null {
  const m =
    /^-- CHANGE MASTER TO MASTER_LOG_FILE='([^'\n]{1,255})', MASTER_LOG_POS=(\d{1,20});/m.exec(
      head,
    );
  return m ? { file: m[1] as string, position: Number(m[2]) } : null;
}
