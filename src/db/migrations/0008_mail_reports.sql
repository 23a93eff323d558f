-- 0008: mail reports. One row per mail the controller decides to send (the daily report of
-- a day, a batch of failure mails; `report --send` by hand), written before it is sent:
-- the unique (kind, period) key makes the decision once across HA controllers and
-- restarts, the row keeps what was sent, and a mail server that is down only moves
-- next_attempt_at on.
-- And the free space of each storage node's backup destination, reported by its agent.
-- Forward-only: never edit once landed.

CREATE TABLE mail_reports (
  id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('daily', 'failures', 'manual')),
  period text NOT NULL,                -- daily: local date (YYYY-MM-DD); failures: window start; manual: window end
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  recipients text[] NOT NULL,
  subject text NOT NULL,
  text_body text NOT NULL,
  html_body text NOT NULL,
  summary jsonb NOT NULL DEFAULT '{}', -- counts shown in the subject, for psql and the API
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(), -- also the lease of a send in progress
  last_error text,
  message_id text,                     -- Message-ID header (fixed per row: a resend dedups)
  smtp_response text,                  -- what the server said when it took the mail
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  UNIQUE (kind, period),
  CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);

CREATE INDEX mail_reports_pending ON mail_reports (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mail_reports_kind_window ON mail_reports (kind, window_end DESC);

-- Free space of a storage node's backup destination, as its agent last saw it (statfs at
-- start and after each backup and prune).
CREATE TABLE destination_space (
  node text NOT NULL,                  -- the storage node's host name
  dest text NOT NULL,                  -- the destination directory
  size_bytes bigint NOT NULL,
  free_bytes bigint NOT NULL,          -- available to the agent (statfs bavail)
  reported_at timestamptz NOT NULL DEFAULT now(),
  role_name name NOT NULL DEFAULT current_user, -- the database role that reported it
  PRIMARY KEY (node, dest)
);

-- mail_reports is the controller's alone (0005's default privileges grant it). An agent
-- writes its own destination's row and cannot overwrite one another role reported.
GRANT SELECT, INSERT (node, dest, size_bytes, free_bytes),
      UPDATE (size_bytes, free_bytes, reported_at) ON destination_space TO clb_agent;
ALTER TABLE destination_space ENABLE ROW LEVEL SECURITY;
CREATE POLICY destination_space_controller ON destination_space TO clb_controller
  USING (true) WITH CHECK (true);
CREATE POLICY destination_space_agent ON destination_space TO clb_agent
  USING (role_name = current_user) WITH CHECK (role_name = current_user);
