-- 0015: a restore's target volume is held in Cinder's `maintenance` status from enqueue to
-- the end of the job (issue 10, point 6), so nobody attaches it while it is overwritten. One
-- row per hold, written before Cinder is asked, so whatever leader comes next can put a
-- volume back that a crashed controller left in maintenance. At most one open hold per
-- target volume. Forward-only: never edit once landed.

CREATE TABLE restore_target_holds (
  id bigserial PRIMARY KEY,
  volume_id uuid NOT NULL,             -- the target (a Cinder volume), not the backup's volume
  job_id bigint NOT NULL,              -- the restore job (no foreign key: a gone job has ended)
  previous_status text NOT NULL,       -- what Cinder showed before (always 'available' today)
  phase text NOT NULL DEFAULT 'setting'
    CHECK (phase IN ('setting', 'set', 'released')),
  created_at timestamptz NOT NULL DEFAULT now(),
  set_at timestamptz,                  -- Cinder read back `maintenance` with no attachment
  released_at timestamptz,
  released_to text,                    -- the status put back; null when none was changed
  release_note text,                   -- why it was released as it was
  attempts integer NOT NULL DEFAULT 0, -- failed attempts to release
  next_try_at timestamptz NOT NULL DEFAULT now(),
  last_error text
);

CREATE UNIQUE INDEX restore_target_holds_open ON restore_target_holds (volume_id)
  WHERE released_at IS NULL;
CREATE INDEX restore_target_holds_job ON restore_target_holds (job_id);
