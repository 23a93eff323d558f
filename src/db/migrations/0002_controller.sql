-- 0002: the controller. A ledger of processed notifications (idempotency by oslo
-- message_id: a redelivered message finds its id and changes nothing) and a record of the
-- notifications that were dead-lettered, with why. Forward-only: never edit once landed.

CREATE TABLE processed_notifications (
  message_id text PRIMARY KEY,         -- oslo message_id (a uuid4 string from the publisher)
  event_type text NOT NULL,
  volume_id uuid,
  outcome text NOT NULL,               -- applied, stale, ignored, unknown-volume
  event_at timestamptz,                -- the message's own timestamp
  processed_at timestamptz NOT NULL DEFAULT now()
);

-- Old entries are pruned by age; a redelivery comes within minutes, a replay of a durable
-- queue within the pruning horizon.
CREATE INDEX processed_notifications_processed_at ON processed_notifications (processed_at);

CREATE TABLE dead_notifications (
  id bigserial PRIMARY KEY,
  message_id text,                     -- when the body got far enough to have one
  event_type text,
  reason text NOT NULL,                -- why it could not be decoded or applied
  exchange text,
  routing_key text,
  body_bytes integer NOT NULL,
  body_sha256 text NOT NULL,           -- the body itself is in the dead-letter queue, not here
  dead_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dead_notifications_dead_at ON dead_notifications (dead_at DESC);
