/**
 * What every agent-process test sets up: a fresh database, a private work directory, and
 * the agents it starts, all torn down after the file (agents SIGKILLed first).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
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
  beforeAll(async () => {
    db = await freshDatabase();
    work = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterAll(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await db?.drop();
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
      const agent = await startAgent({ ...opts, databaseUrl: ready(db, 'db').url });
      agents.push(agent);
      return agent;
    },
  };
}
