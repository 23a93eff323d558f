-- 0017: a storage node prunes the backups its destination holds even after their volume
-- moved to another backend host (retype, migration) or was deleted there. 0005 let an
-- agent see a volume, its backups and its events only while the volume is on one of the
-- agent's hosts; the controller's orphan pass (0014) routes a prune to the host that holds
-- the backups (backups.backend_host), whose agent then saw nothing and failed it.
-- Now an agent also reads a volume while it holds an open job for it (jobs only the
-- controller can route to another host's volume: 0005 lets an agent queue a prune only for
-- a volume of its own host), reads and marks the backups its hosts hold, and records
-- events of its own jobs' volumes (also once the job has finished). Forward-only: never edit once landed.

-- Volumes with a queued or running job of the calling agent role's hosts. SECURITY
-- DEFINER: a policy on volumes that read jobs under jobs' own policies would recurse
-- (jobs' insert check reads volumes). The login role (session_user) is the agent's, as in
-- README "Database roles".
CREATE FUNCTION clb_my_open_job_volumes() RETURNS uuid[]
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
  SELECT coalesce(array_agg(DISTINCT j.volume_id), '{}')
    FROM jobs j JOIN agent_hosts h ON h.backend_host = j.backend_host
   WHERE h.role_name = session_user AND j.state IN ('queued', 'running')
$$;
REVOKE ALL ON FUNCTION clb_my_open_job_volumes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clb_my_open_job_volumes() TO clb_agent;

-- The function runs once per statement (a hashed subplan), not once per row.
ALTER POLICY volumes_agent_read ON volumes
  USING (backend_host = ANY (clb_my_hosts())
         OR id IN (SELECT unnest(clb_my_open_job_volumes())));

ALTER POLICY backups_agent_read ON backups
  USING (volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts()))
         OR backend_host = ANY (clb_my_hosts()));
ALTER POLICY backups_agent_update ON backups
  USING (volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts()))
         OR backend_host = ANY (clb_my_hosts()))
  WITH CHECK (
    volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts()))
    OR backend_host = ANY (clb_my_hosts()));

ALTER POLICY events_agent_insert ON events
  WITH CHECK (
    (volume_id IS NULL
      OR volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts()))
      OR EXISTS (SELECT 1 FROM jobs j
                  WHERE j.id = events.job_id AND j.volume_id = events.volume_id
                    AND j.backend_host = ANY (clb_my_hosts())))
    AND (job_id IS NULL
      OR job_id IN (SELECT j.id FROM jobs j WHERE j.backend_host = ANY (clb_my_hosts())))
  );
