-- 0013: notifications are hints (issue 10). An event that would change what steers a
-- volume's backups (metadata, host, project, LV name, status, deletion) changes nothing by
-- itself: the volume keeps its previous values and the claim waits here until the volume
-- read from the Cinder API confirms or contradicts it. One row per volume: later events
-- replace the claim and add their backup triggers. Forward-only: never edit once landed.

CREATE TABLE volume_hints (
  volume_id uuid PRIMARY KEY,
  event_type text NOT NULL,            -- the latest event that claimed a change
  event_at timestamptz NOT NULL,       -- its time
  claims jsonb NOT NULL,               -- what it claimed: status, host, project_id, metadata, gone
  triggers jsonb NOT NULL DEFAULT '[]',-- [{trigger, eventType, eventAt}] awaiting confirmation
  events integer NOT NULL DEFAULT 1,   -- events folded into this hint
  received_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,  -- bumped by each event: a lookup settles only its version
  next_try_at timestamptz NOT NULL DEFAULT now(), -- due for a lookup (a short delay coalesces bursts)
  attempts integer NOT NULL DEFAULT 0,
  last_error text                      -- why the last lookup failed
);

CREATE INDEX volume_hints_due ON volume_hints (next_try_at);
