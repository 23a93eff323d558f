/**
 * Agents' heartbeats (`agent_heartbeats`, migration 0006): one row per agent process,
 * refreshed at each claim round, for monitoring.
 */
import type { Queryable } from './queryable.js';

/** Records that an agent is alive (inserting its row at the first beat). */
export async function recordAgentHeartbeat(
  q: Queryable,
  beat: { agentId: string; hosts: readonly string[]; startedAt: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO agent_heartbeats (agent_id, hosts, started_at) VALUES ($1, $2, $3)
     ON CONFLICT (agent_id) DO UPDATE SET last_seen_at = now(), stopped_at = NULL,
                                          hosts = EXCLUDED.hosts`,
    [beat.agentId, beat.hosts, beat.startedAt],
  );
}

/** Records an agent's orderly stop. */
export async function markAgentStopped(q: Queryable, agentId: string): Promise<void> {
  await q.query(
    'UPDATE agent_heartbeats SET stopped_at = now(), last_seen_at = now() WHERE agent_id = $1',
    [agentId],
  );
}

export interface AgentHeartbeat {
  agentId: string;
  hosts: string[];
  startedAt: Date;
  lastSeenAt: Date;
  stoppedAt: Date | null;
}

/** Agents seen within `withinSeconds`, newest first. */
export async function listAgentHeartbeats(
  q: Queryable,
  withinSeconds: number,
): Promise<AgentHeartbeat[]> {
  const res = await q.query<{
    agent_id: string;
    hosts: string[];
    started_at: Date;
    last_seen_at: Date;
    stopped_at: Date | null;
  }>(
    `SELECT agent_id, hosts, started_at, last_seen_at, stopped_at FROM agent_heartbeats
      WHERE last_seen_at > now() - make_interval(secs => $1) ORDER BY last_seen_at DESC`,
    [withinSeconds],
  );
  return res.rows.map((r) => ({
    agentId: r.agent_id,
    hosts: r.hosts,
    startedAt: r.started_at,
    lastSeenAt: r.last_seen_at,
    stoppedAt: r.stopped_at,
  }));
}
