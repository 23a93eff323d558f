/**
 * What every agent-process test sets up: a fresh database, a private work directory, and
 * the agents it starts, all torn down after the file (agents SIGKILLed first). Each agent
 * connects as its own login role in `clb_agent`, mapped to the hosts it serves (migration
 * 0005), as on a real storage node: the agent's code path is exercised under row security.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createAgentLogin, type AgentLogin } from '../db/agent-login.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startAgent, type AgentProcess } from './agent-process.js';

export interface AgentTestbed {
  readonly db: FreshDatabase;
  readonly work: string;
  /** Starts an agent on the testbed's database; it is killed after the file. */
  start(opts: Omit<Parameters<typeof startAgent>[0], 'databaseUrl'>): Promise<AgentProcess>;
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
  };
}
