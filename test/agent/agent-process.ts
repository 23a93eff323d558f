/**
 * Starts agent processes for tests (`node --import tsx test/agent/file-engine-agent.ts`)
 * and waits for the line that names them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CHILD_WAIT_MS, waitForChild } from '../child-wait.js';

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
    const giveUp = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `agent did not start within ${CHILD_WAIT_MS} ms; last output:\n${err.slice(-2000)}`,
        ),
      );
    }, CHILD_WAIT_MS);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /^agent (\S+) serving/m.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(giveUp);
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(giveUp);
      reject(new Error(`agent exited (${String(code)}) before it started: ${err}`));
    });
  });
  return { agentId, pid: child.pid ?? -1, child, exited, stderr: () => err };
}

/**
 * Polls `check` every 200 ms until it returns true. After `timeoutMs` (default
 * {@link CHILD_WAIT_MS}) it throws, naming `what`, with the tail of `output` (the agents'
 * stderr: `AgentTestbed.output`).
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  output: () => string,
  timeoutMs = CHILD_WAIT_MS,
): Promise<void> {
  await waitForChild(what, check, { output, timeoutMs, everyMs: 200 });
}
