/**
 * The agent's database role and its mapping to backend hosts (`agent_hosts`, migration
 * 0005). Row security lets an agent role see and change only the jobs, volumes and backups
 * of the hosts mapped to it; a host it serves without a mapping would sit idle silently,
 * so the agent checks at start.
 */
import type { Queryable } from './queryable.js';

export interface AgentRoleInfo {
  /** The role the statements run as (`current_user`). */
  role: string;
  /** Whether it is a member of `clb_agent`, so row security applies to it. */
  restricted: boolean;
  /** The backend hosts mapped to it (only meaningful when restricted). */
  hosts: string[];
}

/** Reads the role this connection runs as and, for an agent role, its mapped hosts. */
export async function readAgentRole(q: Queryable): Promise<AgentRoleInfo> {
  const res = await q.query<{ role: string; restricted: boolean }>(
    `SELECT current_user::text AS role,
            coalesce(pg_has_role(current_user, r.oid, 'MEMBER'), false)
              AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS restricted
       FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = 'clb_agent'`,
  );
  const row = res.rows[0];
  const role = row?.role ?? '';
  if (row?.restricted !== true) return { role, restricted: false, hosts: [] };
  const hosts = await q.query<{ backend_host: string }>(
    'SELECT backend_host FROM agent_hosts WHERE role_name = current_user ORDER BY backend_host',
  );
  return { role, restricted: true, hosts: hosts.rows.map((r) => r.backend_host) };
}

/** Hosts an agent serves that its role is not mapped to (pure). */
export function unmappedHosts(info: AgentRoleInfo, served: readonly string[]): string[] {
  if (!info.restricted) return [];
  const mapped = new Set(info.hosts);
  return served.filter((h) => !mapped.has(h));
}
