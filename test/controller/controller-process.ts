/**
 * A controller as a child process (`node --import tsx src/cli.ts controller`), its pino
 * lines collected from stderr, so tests can SIGKILL and SIGTERM a real process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  count(msg: string): number {
    return this.lines.filter((l) => l.msg === msg).length;
  }

  async waitForLog(msg: string, timeoutMs = 20_000, times = 1): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.count(msg) < times) {
      if (Date.now() > until) {
        throw new Error(
          `${this.name}: no "${msg}" log line within ${timeoutMs} ms; last lines:\n${this.raw.slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
