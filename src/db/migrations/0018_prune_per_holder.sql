-- 0018: prunes are routed to each host that holds a volume's backups (issue 10). A volume
-- that moved to another backend host (Cinder migration or retype) keeps its older backups
-- on the old host's destination; its after-backup prune on the new host prunes what that
-- host holds and leaves the rest, and the controller routes a prune to each other holder.
-- One open prune per volume (0001's key) would let a queued prune of a host whose agent is
-- gone block the volume's prunes everywhere, so prunes get their own key: one open prune
-- per volume and host. Forward-only: never edit once landed.

DROP INDEX jobs_one_open_per_volume_kind;
CREATE UNIQUE INDEX jobs_one_open_per_volume_kind
  ON jobs (volume_id, kind) WHERE state IN ('queued', 'running') AND kind <> 'prune';
CREATE UNIQUE INDEX jobs_one_open_prune_per_volume_host
  ON jobs (volume_id, backend_host) WHERE state IN ('queued', 'running') AND kind = 'prune';

-- The old host's agent applies the volume's retention to the backups it holds, so it must
-- read all of the volume's backup rows (a count such as last=5 counts the new host's too):
-- an agent now also reads the backups of a volume while it holds an open job for it (only
-- the controller routes a job to another host's volume). It still marks only its own.
ALTER POLICY backups_agent_read ON backups
  USING (volume_id IN (SELECT v.id FROM volumes v WHERE v.backend_host = ANY (clb_my_hosts()))
         OR backend_host = ANY (clb_my_hosts())
         OR volume_id IN (SELECT unnest(clb_my_open_job_volumes())));

-- Backups no agent can prune: held by a host other than their volume's (or of a deleted
-- volume) whose agent has not been seen for a day, or never was. Retention or the orphan
-- grace may want them gone, but only the node that holds them may delete them; they stay
-- until that node is back or an operator removes them by hand (and marks the rows).
CREATE VIEW stranded_backups AS
SELECT b.id AS backup_row_id,
       b.backup_id,
       b.volume_id,
       v.name AS volume_name,
       v.project_id,
       b.backend_host AS held_by,
       v.backend_host AS volume_host,
       b.finished_at,
       b.bytes_written,
       seen.last_seen_at AS holder_last_seen_at,
       CASE WHEN seen.last_seen_at IS NULL
            THEN 'held by ' || b.backend_host || ', whose agent was never seen'
            ELSE 'held by ' || b.backend_host || ', whose agent was last seen '
                 || to_char(seen.last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
       END || CASE WHEN v.deleted_at IS NOT NULL THEN '; the volume is deleted'
                   ELSE '; the volume is now on ' || coalesce(v.backend_host, 'no host') END
         AS reason
  FROM backups b
  JOIN volumes v ON v.id = b.volume_id
  LEFT JOIN LATERAL (
    SELECT max(h.last_seen_at) AS last_seen_at FROM agent_heartbeats h
     WHERE b.backend_host = ANY (h.hosts)) seen ON true
 WHERE b.status = 'succeeded' AND b.pruned_at IS NULL AND b.backend_host IS NOT NULL
   AND (v.deleted_at IS NOT NULL OR v.backend_host IS DISTINCT FROM b.backend_host)
   AND (seen.last_seen_at IS NULL OR seen.last_seen_at < now() - interval '1 day')
 ORDER BY b.backend_host, v.project_id, b.volume_id, b.finished_at;
