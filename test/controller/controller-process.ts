/**
 * A controller as a child process (`node --import tsx src/cli.ts controller`), its pino
 * lines collected from stderr, so tests can SIGKILL and SIGTERM a real process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CHILD_WAIT_MS, waitForChild } from '../child-wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LogLine {
  msg?: string;
  level?: number;
  [k: string]: unknown;
}

export class ControllerProcess {
  readonly lines: LogLine[] = [];
  /** Raw stderr, to check that nothing secret was logged. */
  raw = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited and its output is closed: no more lines will come. */
  private closed = false;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    env: Record<string, string>,
    args: string[] = ['controller'],
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/root',
        // Ports the OS picks: tests run controllers side by side (and files in parallel).
        CLB_API_LISTEN: '127.0.0.1:0',
        CLB_METRICS_LISTEN: '127.0.0.1:0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.raw += chunk;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) {
        try {
          this.lines.push(JSON.parse(p) as LogLine);
        } catch {
          this.lines.push({ msg: p });
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    this.child.on('close', () => {
      this.closed = true;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  count(msg: string): number {
    return this.lines.filter((l) => l.msg === msg).length;
  }

  /**
   * Waits until the process has logged `msg` `times` times; fails with its last output after
   * `timeoutMs`, or at once when it ends without having logged it.
   */
  async waitForLog(msg: string, timeoutMs = CHILD_WAIT_MS, times = 1): Promise<void> {
    await waitForChild(
      `${this.name} to log "${msg}"${times > 1 ? ` ${times} times` : ''}`,
      () => this.count(msg) >= times,
      { output: () => this.raw, timeoutMs, everyMs: 50, gone: () => this.closed },
    );
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
