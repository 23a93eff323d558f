-- 0006: agents report that they are alive. Each agent process upserts its row when it
-- starts and at every claim round, and marks it stopped when it stops, so monitoring sees
-- idle agents too (a lease renewal is only written while a job runs). An agent role reads
-- and writes only the rows it wrote (db_role). Forward-only: never edit once landed.

CREATE TABLE agent_heartbeats (
  agent_id text PRIMARY KEY,            -- the agent's id (hostname-random), as in jobs.locked_by
  db_role name NOT NULL DEFAULT current_user,
  hosts text[] NOT NULL,                -- backend hosts it serves
  started_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz                -- set at an orderly stop; null while it runs
);

ALTER TABLE agent_heartbeats ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE (last_seen_at, stopped_at, hosts) ON agent_heartbeats TO clb_agent;
CREATE POLICY agent_heartbeats_own ON agent_heartbeats TO clb_agent
  USING (db_role = current_user) WITH CHECK (db_role = current_user);
CREATE POLICY agent_heartbeats_controller ON agent_heartbeats TO clb_controller
  USING (true) WITH CHECK (true);
