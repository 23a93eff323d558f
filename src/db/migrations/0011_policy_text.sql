-- 0011: clb_policy_text writes retention the way a tenant tags it (backup:retention):
-- "daily; keep last=3", "hourly; keep 30d", "daily; keep daily=7 weekly=4 monthly=6", in
-- that order, instead of the stored field names in key order ("keep keepLast=3",
-- "keep maxAgeDays=30", "keep daily=7 monthly=6 weekly=4"). backup_status, the API's
-- `policy` and the mail report show this text.
CREATE OR REPLACE FUNCTION clb_policy_text(policy jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN policy IS NULL THEN NULL ELSE concat_ws('; ',
    policy ->> 'scheduleText',
    (SELECT 'keep ' || string_agg(
              CASE r.key WHEN 'keepLast' THEN 'last=' || r.value
                         WHEN 'maxAgeDays' THEN r.value || 'd'
                         ELSE r.key || '=' || r.value END,
              ' ' ORDER BY coalesce(array_position(
                ARRAY['keepLast', 'daily', 'weekly', 'monthly', 'maxAgeDays'], r.key), 99), r.key)
       FROM jsonb_each_text(coalesce(policy -> 'retention', '{}')) AS r),
    CASE WHEN jsonb_array_length(coalesce(policy -> 'excludes', '[]')) > 0
         THEN 'exclude ' || (SELECT string_agg(e, ',') FROM jsonb_array_elements_text(policy -> 'excludes') e)
    END)
  END
$$;
