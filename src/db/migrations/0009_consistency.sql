-- 0008: application consistency on each backup row (SSH into the instance: mysqldump before
-- the snapshot, fsfreeze around it). The level reached, the steps tried with their outcome,
-- why the level fell short, the freeze window and the dump size; backup_status and
-- backup_history show them. Forward-only: never edit once landed.

ALTER TABLE backups
  ADD COLUMN consistency_level text
    CHECK (consistency_level IN ('crash', 'filesystem', 'application')),
  ADD COLUMN consistency_demanded text
    CHECK (consistency_demanded IN ('crash', 'filesystem', 'application')),
  ADD COLUMN consistency_steps jsonb NOT NULL DEFAULT '[]', -- [{step, ok, code?, reason?, durationMs}]
  ADD COLUMN consistency_reason text,  -- why the level is below what the steps would give
  ADD COLUMN freeze_window_ms integer, -- how long the instance's filesystems were frozen
  ADD COLUMN dump_bytes bigint;        -- the stored (compressed) database dump

-- Rows written before the levels had these names.
UPDATE backups SET consistency_level = 'crash', consistency_demanded = 'crash'
 WHERE consistency = 'crash-consistent';

-- The agent records them with the rest of a finished backup (see 0005 for the pattern).
GRANT UPDATE (consistency_level, consistency_demanded, consistency_steps, consistency_reason,
              freeze_window_ms, dump_bytes)
  ON backups TO clb_agent;

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
       last_ok.dump_bytes AS last_dump_bytes
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
       b.dump_bytes
  FROM backups b JOIN volumes v ON v.id = b.volume_id
 ORDER BY b.started_at DESC, b.id DESC;
