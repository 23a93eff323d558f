-- 0012: incremental chains. Each backup row says its level (0: a full backup), the backup
-- it is incremental on and its chain's full backup (engine backup ids, as in the manifest's
-- `chain`; the parent is a sibling directory on the same destination), and why a level-0
-- backup is full. The agent chooses a parent from these; retention keeps what kept
-- backups depend on. Forward-only: never edit once landed.

ALTER TABLE backups
  ADD COLUMN level integer NOT NULL DEFAULT 0 CHECK (level >= 0),
  ADD COLUMN parent_backup_id text,
  ADD COLUMN chain_root_backup_id text,
  ADD COLUMN full_reason text,
  ADD CONSTRAINT backups_level_parent CHECK ((level = 0) = (parent_backup_id IS NULL));

CREATE INDEX backups_parent_backup_id ON backups (parent_backup_id)
  WHERE parent_backup_id IS NOT NULL;

-- The agent records them with the rest of a finished backup (see 0005 for the pattern).
GRANT UPDATE (level, parent_backup_id, chain_root_backup_id, full_reason) ON backups TO clb_agent;
