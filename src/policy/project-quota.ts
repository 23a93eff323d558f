/**
 * The operator's ceiling on the bytes a project's backups may occupy (`[retention]
 * max_project_bytes`, per project `[retention] project_quotas`), and the verdict on a
 * project's stored bytes. Pure.
 *
 * Over its quota, a project's volumes get no new backups (scheduled or event-triggered; "back
 * up now" only by an admin) and each shows the reason; existing backups are never deleted
 * for it: retention prunes them as before, and the operator raises the quota or prunes.
 */

export interface ProjectQuota {
  /** Bytes any project may store; 0: no quota. */
  defaultBytes: number;
  /** Projects with their own quota (0: none for that project). */
  perProject: ReadonlyMap<string, number>;
}

export const NO_PROJECT_QUOTA: ProjectQuota = { defaultBytes: 0, perProject: new Map() };

/** Whether any project has a quota. */
export function anyQuota(quota: ProjectQuota): boolean {
  return quota.defaultBytes > 0 || [...quota.perProject.values()].some((b) => b > 0);
}

/** The project's quota in bytes, or null when it has none. */
export function quotaOf(quota: ProjectQuota, projectId: string): number | null {
  const bytes = quota.perProject.get(projectId) ?? quota.defaultBytes;
  return bytes > 0 ? bytes : null;
}

/** `1073741824` → `1.0 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u] as string}`;
}

/**
 * Why the project may not make new backups, or null: its stored bytes (successful, unpruned
 * backups of all its volumes) are at or over its quota.
 */
export function quotaProblem(
  quota: ProjectQuota,
  projectId: string,
  storedBytes: number,
): string | null {
  const limit = quotaOf(quota, projectId);
  if (limit === null || storedBytes < limit) return null;
  return `project ${projectId} stores ${storedBytes} bytes (${formatBytes(storedBytes)}) of backups, at or over its quota of ${limit} bytes (${formatBytes(limit)}); no new backups until it is below (existing backups are kept)`;
}
