-- 0007: rows whose seen_at an event dated in the future pinned (before events were refused
-- beyond the allowed clock skew and clamped to the clock) made every later event look stale
-- and, with the poller's "newer view wins" rule, kept the poll from correcting them. Bring
-- them back to now so the next poll or event rewrites them. Forward-only: never edit once
-- landed.

UPDATE volumes SET seen_at = now() WHERE seen_at > now();
UPDATE volumes SET deleted_at = now() WHERE deleted_at > now();
