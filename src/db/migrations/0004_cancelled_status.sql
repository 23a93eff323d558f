-- 0004: a backup run that the agent stopped (job cancelled, agent shutting down, lease
-- lost) is 'cancelled', not 'failed': nothing went wrong with the volume, so it must not
-- show in backup_failures nor as the volume's last error in backup_status (both views only
-- look at 'failed' rows, so they need no change). Forward-only: never edit once landed.

ALTER TABLE backups DROP CONSTRAINT backups_status_check;
ALTER TABLE backups ADD CONSTRAINT backups_status_check
  CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled'));

-- Runs stopped before this migration were recorded as failed with ABORTED (the code the
-- agent's abort signal carries); give them the status they should have had.
UPDATE backups SET status = 'cancelled' WHERE status = 'failed' AND error_code = 'ABORTED';
