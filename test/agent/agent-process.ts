/**
 * Starts agent processes for tests (`node --import tsx test/agent/file-engine-agent.ts`)
 * and waits for the line that names them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./file-engine-agent.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface AgentProcess {
  agentId: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  stderr: () => string;
}

export async function startAgent(opts: {
  databaseUrl: string;
  hosts: string[];
  dest: string;
  runDir: string;
  args?: string[];
  env?: Record<string, string>;
}): Promise<AgentProcess> {
  const args = [
    '--import',
    'tsx',
    ENTRY,
    ...opts.hosts.flatMap((h) => ['--host', h]),
    '--dest',
    opts.dest,
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      CLB_RUN_DIR: opts.runDir,
      CLB_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  const agentId = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /^agent (\S+) serving/m.exec(out);
      if (m?.[1] !== undefined) {
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`agent exited (${String(code)}) before it started: ${err}`)),
    );
  });
  return { agentId, pid: child.pid ?? -1, child, exited, stderr: () => err };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
