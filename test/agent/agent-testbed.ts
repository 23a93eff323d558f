/**
 * What every agent-process test sets up: a fresh database, a private work directory, and
 * the agents it starts, all torn down after the file (agents SIGKILLed first). Each agent
 * connects as its own login role in `clb_agent`, mapped to the hosts it serves (migration
 * 0005), as on a real storage node: the agent's code path is exercised under row security.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { createAgentLogin, type AgentLogin } from '../db/agent-login.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import type { Job } from '../../src/jobs/job.js';
import { getJob } from '../../src/jobs/queue.js';
import { startAgent, type AgentProcess } from './agent-process.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A job as `enqueue … --wait --json` prints it when it is final. */
export interface FinishedJob {
  state: string;
  result: unknown;
}

export interface AgentTestbed {
  readonly db: FreshDatabase;
  readonly work: string;
  /** Starts an agent on the testbed's database; it is killed after the file. */
  start(opts: Omit<Parameters<typeof startAgent>[0], 'databaseUrl'>): Promise<AgentProcess>;
  /** `cinder-lvm-backup ARGS…` on the testbed's database (log level warn): its stdout. */
  cli(args: readonly string[]): Promise<string>;
  /**
   * `cinder-lvm-backup enqueue KIND --volume ID --wait --json` on the testbed's database, as
   * an operator runs it: the job once it is final (the agents started here run it).
   */
  enqueueWait(kind: string, volumeId: string): Promise<FinishedJob>;
  /** Polls the job's row until it is final (the agents' own time, not a fixed sleep). */
  finished(jobId: number, timeoutMs?: number): Promise<Job>;
  /** The stderr of the agents started here, each under its id: for a failed wait's message. */
  readonly output: () => string;
}

/** Whether a backup's archive (its `location`; null: none recorded) is on disk. */
export function archiveExists(location: string | null): Promise<boolean> {
  return access(location ?? '/nonexistent').then(
    () => true,
    () => false,
  );
}

/** Registers the set-up and tear-down hooks; the fields are usable inside tests. */
export function useAgentTestbed(prefix: string): AgentTestbed {
  let db: FreshDatabase | undefined;
  let work: string | undefined;
  const agents: AgentProcess[] = [];
  const logins: AgentLogin[] = [];
  beforeAll(async () => {
    db = await freshDatabase();
    work = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterAll(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await db?.drop();
    for (const l of logins) await l.drop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });
  const ready = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`agent testbed: ${name} used before beforeAll ran`);
    return value;
  };
  const cli = async (args: readonly string[]): Promise<string> => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: ready(db, 'db').url, CLB_LOG_LEVEL: 'warn' },
    });
    return stdout;
  };
  return {
    get db() {
      return ready(db, 'db');
    },
    get work() {
      return ready(work, 'work');
    },
    async start(opts) {
      // `--host host@backend=vg`: the mapping names the backend host only.
      const hosts = opts.hosts.map((h) => h.split('=')[0] ?? h);
      const login = await createAgentLogin(ready(db, 'db'), hosts);
      logins.push(login);
      const agent = await startAgent({ ...opts, databaseUrl: login.url });
      agents.push(agent);
      return agent;
    },
    cli,
    async enqueueWait(kind, volumeId) {
      const stdout = await cli([
        'enqueue',
        kind,
        '--volume',
        volumeId,
        '--wait',
        '--poll-ms',
        '100',
        '--json',
      ]);
      return (JSON.parse(stdout) as { job: FinishedJob }).job;
    },
    async finished(jobId, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await getJob(ready(db, 'db').pool, jobId);
        if (job !== null && ['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
        if (Date.now() > deadline) {
          throw new Error(`job ${jobId} still ${job?.state} after ${timeoutMs / 1000} s`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    output: () =>
      agents.map((a) => `--- agent ${a.agentId}:\n${a.stderr().slice(-1000)}`).join('\n'),
  };
}
