-- 0005: least privilege. Two NOLOGIN group roles, one for the controller and one for the
-- storage-node agents, and the mapping that ties each agent login role to the backend hosts
-- it serves. Row-level security keeps an agent to its own hosts' volumes, jobs and backups;
-- only the controller (or an operator connected as the owner) can enqueue a restore.
-- Forward-only: never edit once landed.
--
-- Operators create one login role per storage node (see README.md, "Database roles"):
--   CREATE ROLE clb_agent_node1 LOGIN PASSWORD '...' IN ROLE clb_agent;
--   INSERT INTO agent_hosts (role_name, backend_host) VALUES ('clb_agent_node1', 'node1@lvm');
-- and one for the controller(s):
--   CREATE ROLE clb_controller_main LOGIN PASSWORD '...' IN ROLE clb_controller;
-- Migrations keep running as the database owner (the `migrate` command), never as either.
--
-- Later migrations that add a table the agent must use grant it to clb_agent (and give it a
-- policy when the table has rows of several hosts); the controller gets new tables through
-- the default privileges below.

-- Roles belong to the cluster, not to the database: another database on the same server
-- (or a parallel migration of one) may have made them already, and an operator without
-- CREATEROLE for the migrator makes them beforehand.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['clb_controller', 'clb_agent'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- made meanwhile by a concurrent migration of another database
      END;
    END IF;
  END LOOP;
END $$;

-- Which backend hosts (`host@backend`) each agent login role may work for.
CREATE TABLE agent_hosts (
  role_name name NOT NULL,
  backend_host text NOT NULL,
  PRIMARY KEY (role_name, backend_host)
);

-- The controller: everything, now and in later migrations run by the same owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO clb_controller;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO clb_controller;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO clb_controller;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO clb_controller;

-- The agent: only the columns its statements touch (src/jobs/queue.ts, src/db/backups.ts,
-- src/db/events.ts). It cannot change a job's kind, volume, host, LV or payload, nor a
-- backup's volume or job; it reads no view (views run as their owner, past row security),
-- no notification ledger and no mapping but its own.
GRANT SELECT ON schema_migrations TO clb_agent;
GRANT SELECT ON agent_hosts TO clb_agent;
GRANT SELECT ON volumes TO clb_agent;
GRANT SELECT ON jobs TO clb_agent;
GRANT INSERT (kind, volume_id, backend_host, lv_name, reason, payload, run_at, max_attempts)
  ON jobs TO clb_agent;
GRANT UPDATE (state, run_at, attempts, locked_by, locked_at, lease_expires_at,
              last_error_code, last_error_message, result, updated_at, finished_at)
  ON jobs TO clb_agent;
GRANT SELECT ON backups TO clb_agent;
GRANT INSERT (volume_id, job_id, node, reason) ON backups TO clb_agent;
GRANT UPDATE (status, finished_at, backup_id, location, manifest_path, manifest, bytes_read,
              bytes_written, throughput_bytes_per_s, archives, consistency,
              snapshot_peak_percent, error_code, error_message, verified_at, verify_ok,
              verify_error, pruned_at)
  ON backups TO clb_agent;
GRANT INSERT (kind, volume_id, job_id, backup_id, node, message, data) ON events TO clb_agent;
GRANT USAGE ON SEQUENCE jobs_id_seq, backups_id_seq, events_id_seq TO clb_agent;

-- The hosts of the agent role running the statement. SECURITY INVOKER on purpose: it reads
-- agent_hosts under that role's own policy (its rows only).
CREATE FUNCTION clb_my_hosts() RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(backend_host), '{}') FROM agent_hosts WHERE role_name = current_user
$$;

ALTER TABLE agent_hosts ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_hosts_controller ON agent_hosts TO clb_controller USING (true);
CREATE POLICY agent_hosts_own ON agent_hosts FOR SELECT TO clb_agent
  USING (role_name = current_user);

ALTER TABLE volumes ENABLE ROW LEVEL SECURITY;
CREATE POLICY volumes_controller ON volumes TO clb_controller USING (true) WITH CHECK (true);
CREATE POLICY volumes_agent_read ON volumes FOR SELECT TO clb_agent
  USING (backend_host = ANY (clb_my_hosts()));

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_controller ON jobs TO clb_controller USING (true) WITH CHECK (true);
CREATE POLICY jobs_agent_read ON jobs FOR SELECT TO clb_agent
  USING (backend_host = ANY (clb_my_hosts()));
CREATE POLICY jobs_agent_update ON jobs FOR UPDATE TO clb_agent
  USING (backend_host = ANY (clb_my_hosts()))
  WITH CHECK (backend_host = ANY (clb_my_hosts()));
-- An agent queues only the prune that follows its own backup: never a restore, a verify or
-- a backup, and never for a volume of another host.
CREATE POLICY jobs_agent_prune ON jobs FOR INSERT TO clb_agent
  WITH CHECK (
    kind = 'prune'
    AND backend_host = ANY (clb_my_hosts())
    AND EXISTS (SELECT 1 FROM volumes v
                 WHERE v.id = jobs.volume_id AND v.backend_host = jobs.backend_host)
  );

ALTER TABLE backups ENABLE ROW LEVEL SECURITY;
CREATE POLICY backups_controller ON backups TO clb_controller USING (true) WITH CHECK (true);
CREATE POLICY backups_agent_read ON backups FOR SELECT TO clb_agent
  USING (volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts())));
CREATE POLICY backups_agent_update ON backups FOR UPDATE TO clb_agent
  USING (volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts())))
  WITH CHECK (
    volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts())));
-- A backup row is opened only by the run of a backup job the agent holds for that volume.
CREATE POLICY backups_agent_insert ON backups FOR INSERT TO clb_agent
  WITH CHECK (
    EXISTS (SELECT 1 FROM jobs j
             WHERE j.id = backups.job_id AND j.volume_id = backups.volume_id
               AND j.kind = 'backup' AND j.state = 'running'
               AND j.backend_host = ANY (clb_my_hosts()))
  );

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY events_controller ON events TO clb_controller USING (true) WITH CHECK (true);
CREATE POLICY events_agent_insert ON events FOR INSERT TO clb_agent
  WITH CHECK (
    (volume_id IS NULL
      OR volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts())))
    AND (job_id IS NULL
      OR job_id IN (SELECT j.id FROM jobs j WHERE j.backend_host = ANY (clb_my_hosts())))
  );
