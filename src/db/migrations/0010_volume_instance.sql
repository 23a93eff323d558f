-- The instance a volume is attached to, as the controller resolved it through Nova for the
-- SSH consistency steps (mysqldump, fsfreeze): {serverId, serverName, address, resolvedAt}
-- or {serverId, error, resolvedAt}. The agent reads it when a backup starts; the controller
-- refreshes it (src/inventory/instance-resolver.ts). NULL: never resolved or not needed.
ALTER TABLE volumes ADD COLUMN instance jsonb;
