-- 0003: views for people, straight from psql. Forward-only: never edit once landed
-- (replace a view in a later migration with CREATE OR REPLACE VIEW).

-- A policy as one line of text: "daily; keep daily=7 weekly=4 monthly=6".
CREATE FUNCTION clb_policy_text(policy jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN policy IS NULL THEN NULL ELSE concat_ws('; ',
    policy ->> 'scheduleText',
    (SELECT 'keep ' || string_agg(key || '=' || value, ' ' ORDER BY key)
       FROM jsonb_each_text(coalesce(policy -> 'retention', '{}'))),
    CASE WHEN jsonb_array_length(coalesce(policy -> 'excludes', '[]')) > 0
         THEN 'exclude ' || (SELECT string_agg(e, ',') FROM jsonb_array_elements_text(policy -> 'excludes') e)
    END)
  END
$$;

-- One row per tagged volume (a policy, or a tag that does not make one).
CREATE VIEW backup_status AS
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
         WHERE j.volume_id = v.id AND j.state IN ('queued', 'running')) AS open_jobs
  FROM volumes v
  LEFT JOIN LATERAL (
    SELECT b.finished_at FROM backups b
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

-- Every backup with its figures, newest first.
CREATE VIEW backup_history AS
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
       b.location
  FROM backups b JOIN volumes v ON v.id = b.volume_id
 ORDER BY b.started_at DESC, b.id DESC;

-- Failed runs with their reasons: failed backup attempts, and failed jobs that have no
-- backup row (verify, restore, prune, or a backup that failed before it started).
CREATE VIEW backup_failures AS
SELECT * FROM (
  SELECT b.finished_at AS failed_at, 'backup' AS kind, b.volume_id, v.name AS volume_name,
         v.project_id, b.job_id, b.id AS backup_row_id, b.node, b.error_code, b.error_message,
         b.reason
    FROM backups b JOIN volumes v ON v.id = b.volume_id
   WHERE b.status = 'failed'
  UNION ALL
  SELECT j.finished_at, j.kind, j.volume_id, v.name, v.project_id, j.id, NULL, NULL,
         j.last_error_code, j.last_error_message, j.reason
    FROM jobs j JOIN volumes v ON v.id = j.volume_id
   WHERE j.state = 'failed'
     AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.job_id = j.id)
) f
ORDER BY failed_at DESC NULLS LAST;
