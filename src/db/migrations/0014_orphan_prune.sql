-- 0014: backups of volumes that are gone (deleted in Cinder) or switched off (no policy:
-- backup=off or the tag removed) are pruned once an operator grace period ([retention]
-- orphan_grace) has passed since the volume went; until then nothing of them is deleted
-- (issue 10, point 3). Each backup row says which backend host's agent made it, so a prune
-- runs only on the storage node whose destination holds the archives, and why its archives
-- were deleted. Forward-only: never edit once landed.

ALTER TABLE volumes
  -- Since when the volume has had no policy (untagged, or backup=off) while it holds
  -- backups; null while it has a policy or a policy error (a typo prunes nothing).
  ADD COLUMN policy_off_at timestamptz,
  -- Deleted or off: when its grace ends and its backups are pruned (the controller's pass
  -- writes it with the grace it runs with); null otherwise.
  ADD COLUMN orphan_prune_at timestamptz;

ALTER TABLE backups
  ADD COLUMN backend_host text,          -- "host@backend" whose agent made it: its destination holds it
  ADD COLUMN prune_reason text;          -- why the archives were deleted (retention, volume deleted ...)

-- Existing rows: the host of the job that made them, else (rebuilt from manifests) the
-- volume's host.
UPDATE backups b SET backend_host = j.backend_host FROM jobs j WHERE j.id = b.job_id;
UPDATE backups b SET backend_host = v.backend_host
  FROM volumes v WHERE v.id = b.volume_id AND b.backend_host IS NULL;
UPDATE backups SET prune_reason = 'retention' WHERE pruned_at IS NOT NULL;

-- Volumes already without a policy that hold backups: their grace starts now, so an
-- upgrade deletes nothing before a full grace period has passed.
UPDATE volumes v SET policy_off_at = now()
 WHERE v.deleted_at IS NULL AND v.policy IS NULL AND v.policy_error IS NULL
   AND EXISTS (SELECT 1 FROM backups b WHERE b.volume_id = v.id AND b.pruned_at IS NULL
                 AND b.status = 'succeeded');

-- The agent names the host when it opens a backup row (the host of the backup job it
-- holds, nothing else), and records why it pruned.
GRANT INSERT (backend_host) ON backups TO clb_agent;
GRANT UPDATE (prune_reason) ON backups TO clb_agent;
ALTER POLICY backups_agent_insert ON backups
  WITH CHECK (
    EXISTS (SELECT 1 FROM jobs j
             WHERE j.id = backups.job_id AND j.volume_id = backups.volume_id
               AND j.kind = 'backup' AND j.state = 'running'
               AND j.backend_host = ANY (clb_my_hosts())
               AND j.backend_host = backups.backend_host)
  );

-- Every backup with its figures, newest first: 0009's columns, then the host that holds it
-- and why it was pruned.
CREATE OR REPLACE VIEW backup_history AS
SELECT b.id,
       b.backup_id,
       b.volume_id,
       v.name AS volume_name,
       v.project_id,
       b.status,
       b.reason,
       b.node,
       b.job_id,
       b.started_at,
       b.finished_at,
       b.finished_at - b.started_at AS duration,
       b.bytes_read,
       b.bytes_written,
       round((b.throughput_bytes_per_s / 1048576)::numeric, 1) AS throughput_mib_s,
       round(b.bytes_read::numeric / nullif(b.bytes_written, 0), 2) AS compression_ratio,
       b.consistency,
       b.snapshot_peak_percent,
       b.verified_at,
       b.verify_ok,
       b.pruned_at,
       b.error_code,
       b.error_message,
       b.location,
       b.consistency_level,
       b.consistency_demanded,
       (SELECT string_agg(s ->> 'step' || ':' || CASE WHEN (s ->> 'ok')::boolean THEN 'ok'
                                                      ELSE coalesce(s ->> 'code', 'failed') END,
                          ',' ORDER BY o)
          FROM jsonb_array_elements(b.consistency_steps) WITH ORDINALITY AS e (s, o))
         AS consistency_steps,
       b.consistency_reason,
       b.freeze_window_ms,
       b.dump_bytes,
       b.backend_host,
       b.prune_reason
  FROM backups b JOIN volumes v ON v.id = b.volume_id
 ORDER BY b.started_at DESC, b.id DESC;

-- One row per volume that is deleted or switched off and holds (or held) backups: since
-- when, when its backups go (or went), what is left and why the last ones were pruned.
CREATE VIEW orphaned_volumes AS
SELECT v.id AS volume_id,
       v.name AS volume_name,
       v.project_id,
       v.backend_host,
       CASE WHEN v.deleted_at IS NOT NULL THEN 'deleted' ELSE 'off' END AS gone,
       CASE WHEN v.deleted_at IS NOT NULL AND v.policy_off_at IS NOT NULL
            THEN LEAST(v.deleted_at, v.policy_off_at)
            ELSE coalesce(v.deleted_at, v.policy_off_at) END AS gone_since,
       v.orphan_prune_at AS prune_at,
       coalesce(kept.n, 0) AS backups_kept,
       coalesce(kept.bytes, 0) AS bytes_kept,
       coalesce(gone.n, 0) AS backups_pruned,
       gone.last_at AS last_pruned_at,
       gone.reason AS prune_reason,
       (SELECT string_agg(j.kind || ':' || j.state, ',' ORDER BY j.id) FROM jobs j
         WHERE j.volume_id = v.id AND j.state IN ('queued', 'running')) AS open_jobs
  FROM volumes v
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, sum(b.bytes_written)::bigint AS bytes FROM backups b
     WHERE b.volume_id = v.id AND b.status = 'succeeded' AND b.pruned_at IS NULL) kept ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, max(b.pruned_at) AS last_at,
           (array_agg(b.prune_reason ORDER BY b.pruned_at DESC, b.id DESC))[1] AS reason
      FROM backups b
     WHERE b.volume_id = v.id AND b.pruned_at IS NOT NULL AND b.prune_reason <> 'retention'
  ) gone ON true
 WHERE (v.deleted_at IS NOT NULL OR v.policy_off_at IS NOT NULL)
   AND (kept.n > 0 OR gone.n > 0)
 ORDER BY gone_since, v.project_id, v.name, v.id;
