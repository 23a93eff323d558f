/**
 * agent_heartbeats under the real roles: an agent login beats and stops for itself, cannot
 * see or touch another agent role's row; a controller role reads them all.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listAgentHeartbeats,
  markAgentStopped,
  recordAgentHeartbeat,
} from '../../src/db/agent-heartbeats.js';
import { createAgentLogin, type AgentLogin } from './agent-login.js';
import { freshDatabase, type FreshDatabase } from './fresh-database.js';

let db: FreshDatabase;
let one: AgentLogin;
let two: AgentLogin;
let ctl: AgentLogin;
const pools: pg.Pool[] = [];
const poolOf = (l: AgentLogin) => {
  const p = new pg.Pool({ connectionString: l.url, max: 1 });
  // A client still closing when afterAll drops the database and its logins gets FATAL 57P01;
  // without a listener the pool re-throws it as an unhandled error that fails the whole run
  // (seen twice, in CI rehearsals on Node 20 and Node 24).
  p.on('error', () => undefined);
  pools.push(p);
  return p;
};

beforeAll(async () => {
  db = await freshDatabase();
  one = await createAgentLogin(db, ['n1@lvm']);
  two = await createAgentLogin(db, ['n2@lvm']);
  ctl = await createAgentLogin(db, [], 'clb_controller');
});
afterAll(async () => {
  for (const p of pools) await p.end();
  await db?.drop();
  for (const l of [one, two, ctl]) await l?.drop();
});

describe('agent heartbeats', () => {
  it('each agent role keeps its own row; the controller sees every agent', async () => {
    const p1 = poolOf(one);
    const p2 = poolOf(two);
    const started = new Date();
    await recordAgentHeartbeat(p1, { agentId: 'n1-a', hosts: ['n1@lvm'], startedAt: started });
    await recordAgentHeartbeat(p1, { agentId: 'n1-a', hosts: ['n1@lvm'], startedAt: started });
    await recordAgentHeartbeat(p2, { agentId: 'n2-b', hosts: ['n2@lvm'], startedAt: started });
    expect((await listAgentHeartbeats(p1, 60)).map((a) => a.agentId)).toEqual(['n1-a']);
    // Agent two can neither stop nor take over agent one's row.
    await markAgentStopped(p2, 'n1-a');
    await expect(
      recordAgentHeartbeat(p2, { agentId: 'n1-a', hosts: ['n2@lvm'], startedAt: started }),
    ).rejects.toThrow();
    const all = await listAgentHeartbeats(poolOf(ctl), 60);
    expect(all.map((a) => a.agentId).sort()).toEqual(['n1-a', 'n2-b']);
    expect(all.find((a) => a.agentId === 'n1-a')).toMatchObject({
      hosts: ['n1@lvm'],
      stoppedAt: null,
    });
    await markAgentStopped(p1, 'n1-a');
    const after = await listAgentHeartbeats(db.pool, 60);
    expect(after.find((a) => a.agentId === 'n1-a')?.stoppedAt).not.toBeNull();
  });
});
