-- 0001: the catalog. Volumes (the inventory the controller fills), the job queue, one row
-- per backup, and an append-only event log. Forward-only: never edit once landed.

CREATE TABLE volumes (
  id uuid PRIMARY KEY,                 -- Cinder volume id
  name text,                           -- display name (may be null)
  project_id text NOT NULL,
  status text NOT NULL,                -- Cinder status (available, in-use, deleting...)
  size_gb integer NOT NULL,
  host text,                           -- os-vol-host-attr:host, "host@backend#pool"
  backend_host text,                   -- "host@backend" (pool stripped): what agents claim by
  lv_name text NOT NULL,               -- "volume-" || coalesce(name_id, id)
  metadata jsonb NOT NULL DEFAULT '{}',-- Cinder metadata dict
  attachments jsonb NOT NULL DEFAULT '[]', -- [{server_id, attachment_id, device?, host_name?}]
  bootable boolean NOT NULL DEFAULT false,
  volume_type text,
  cinder_updated_at timestamptz,
  seen_at timestamptz NOT NULL DEFAULT now(),   -- last poll/notification that saw it
  deleted_at timestamptz,                        -- gone from Cinder (backups are kept)
  policy jsonb,                                  -- parsed policy (controller), null if untagged
  policy_error text,                             -- why the metadata does not make a policy
  next_due_at timestamptz,
  skip_reason text                               -- why the scheduler did not enqueue (state)
);

CREATE INDEX volumes_backend_host ON volumes (backend_host) WHERE deleted_at IS NULL;

-- The job queue. A job is claimed by the agent of its backend host with
-- FOR UPDATE SKIP LOCKED and held under a lease that the agent renews; a lapsed lease
-- makes it claimable again.
CREATE TABLE jobs (
  id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('backup', 'verify', 'restore', 'prune')),
  volume_id uuid NOT NULL REFERENCES volumes (id),
  backend_host text NOT NULL,          -- "host@backend": only that host's agents claim it
  lv_name text NOT NULL,               -- LV at the time of enqueue (name_id may change)
  reason text NOT NULL,                -- schedule, manual, event:volume.detach.end, ...
  payload jsonb NOT NULL DEFAULT '{}', -- kind-specific input (backupId to verify, target...)
  state text NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  run_at timestamptz NOT NULL DEFAULT now(),  -- not claimable before (backoff, future runs)
  attempts integer NOT NULL DEFAULT 0,        -- claims so far, including lapsed ones
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  locked_by text,                      -- agent id holding the lease
  locked_at timestamptz,
  lease_expires_at timestamptz,
  cancel_requested_at timestamptz,     -- a running job is asked to stop at its next renewal
  last_error_code text,
  last_error_message text,
  result jsonb,                        -- kind-specific outcome (backup row id, removed dirs...)
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  CHECK ((state = 'running') = (locked_by IS NOT NULL))
);

-- At most one open job of a kind per volume: the enqueue key.
CREATE UNIQUE INDEX jobs_one_open_per_volume_kind
  ON jobs (volume_id, kind) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_claimable ON jobs (backend_host, run_at) WHERE state = 'queued';
CREATE INDEX jobs_lapsed ON jobs (backend_host, lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_volume ON jobs (volume_id, created_at DESC);

-- NOTIFY is only a hint that wakes the agents of a host early; they poll anyway.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('clb_jobs', NEW.backend_host);
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_notify();
CREATE TRIGGER jobs_notify_requeue AFTER UPDATE OF state, run_at ON jobs FOR EACH ROW
  WHEN (NEW.state = 'queued') EXECUTE FUNCTION jobs_notify();

-- One row per backup attempt of a volume, from its start; figures filled in at the end.
CREATE TABLE backups (
  id bigserial PRIMARY KEY,
  volume_id uuid NOT NULL REFERENCES volumes (id),
  job_id bigint REFERENCES jobs (id),
  backup_id text UNIQUE,               -- the engine's id (<UTC>-<hex>), directory name
  node text,                           -- agent id that ran it
  status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'succeeded', 'failed')),
  reason text NOT NULL,                -- why it ran (the job's reason)
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  bytes_read bigint,                   -- bytes that went into the compressor
  bytes_written bigint,                -- bytes stored
  throughput_bytes_per_s double precision, -- bytes_read / wall time
  archives jsonb NOT NULL DEFAULT '[]',-- [{file, sha256, bytes, location}]
  location text,                       -- the backup directory
  manifest jsonb,
  manifest_path text,
  consistency text,                    -- ConsistencyLevel of the manifest
  snapshot_peak_percent double precision,
  error_code text,
  error_message text,
  verified_at timestamptz,             -- last verify run
  verify_ok boolean,                   -- its outcome
  verify_error text,
  pruned_at timestamptz,               -- archives deleted by retention
  CHECK (status <> 'succeeded' OR manifest_path IS NOT NULL)
);

CREATE INDEX backups_volume ON backups (volume_id, started_at DESC);
CREATE INDEX backups_failed ON backups (started_at DESC) WHERE status = 'failed';

-- Append-only log of state changes: jobs claimed, steps, results, prunes.
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind text NOT NULL,                  -- job.claimed, backup.step, backup.succeeded, ...
  volume_id uuid,
  job_id bigint,
  backup_id bigint,
  node text,
  message text,
  data jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX events_job ON events (job_id, id) WHERE job_id IS NOT NULL;
CREATE INDEX events_volume ON events (volume_id, id) WHERE volume_id IS NOT NULL;

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
