-- 0016: per-project byte quota (issue 10). The scheduler records on each volume of a project
-- at or over its quota ([retention] max_project_bytes, project_quotas) why it gets no new
-- backups; backup_status shows it, and project_usage gives each project's stored bytes.
-- Forward-only: never edit once landed.

ALTER TABLE volumes ADD COLUMN quota_error text;

-- Views keep their columns and gain new ones at the end.
CREATE OR REPLACE VIEW backup_status AS
SELECT v.id AS volume_id,
       v.name AS volume_name,
       v.project_id,
       v.host,
       clb_policy_text(v.policy) AS policy,
       last_ok.finished_at AS last_success_at,
       now() - last_ok.finished_at AS last_success_age,
       last_try.started_at AS last_attempt_at,
       last_try.status AS last_status,
       CASE WHEN last_try.status = 'failed'
            THEN last_try.error_code || ': ' || last_try.error_message END AS last_error,
       v.next_due_at,
       coalesce(kept.n, 0) AS backups_kept,
       coalesce(kept.bytes, 0) AS bytes_kept,
       v.policy_error,
       v.skip_reason,
       (SELECT string_agg(j.kind || ':' || j.state, ',' ORDER BY j.id) FROM jobs j
         WHERE j.volume_id = v.id AND j.state IN ('queued', 'running')) AS open_jobs,
       last_ok.consistency_level AS last_consistency,
       last_ok.consistency_reason AS last_consistency_reason,
       last_ok.freeze_window_ms AS last_freeze_window_ms,
       last_ok.dump_bytes AS last_dump_bytes,
       v.quota_error
  FROM volumes v
  LEFT JOIN LATERAL (
    SELECT b.finished_at, b.consistency_level, b.consistency_reason, b.freeze_window_ms,
           b.dump_bytes
      FROM backups b
     WHERE b.volume_id = v.id AND b.status = 'succeeded'
     ORDER BY b.finished_at DESC LIMIT 1) last_ok ON true
  LEFT JOIN LATERAL (
    SELECT b.started_at, b.status, b.error_code, b.error_message FROM backups b
     WHERE b.volume_id = v.id ORDER BY b.started_at DESC, b.id DESC LIMIT 1) last_try ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, sum(b.bytes_written)::bigint AS bytes FROM backups b
     WHERE b.volume_id = v.id AND b.status = 'succeeded' AND b.pruned_at IS NULL) kept ON true
 WHERE v.deleted_at IS NULL AND (v.policy IS NOT NULL OR v.policy_error IS NOT NULL)
 ORDER BY v.project_id, v.name, v.id;

-- What each project's backups occupy (deleted volumes' backups included: they are stored).
CREATE VIEW project_usage AS
SELECT v.project_id,
       count(DISTINCT v.id) AS volumes,
       count(*) AS backups_kept,
       coalesce(sum(b.bytes_written), 0)::bigint AS bytes_stored
  FROM backups b JOIN volumes v ON v.id = b.volume_id
 WHERE b.status = 'succeeded' AND b.pruned_at IS NULL
 GROUP BY v.project_id
 ORDER BY v.project_id;
