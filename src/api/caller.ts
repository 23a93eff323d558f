/**
 * Who is calling the API, as Keystone described their token, and what they may see and do.
 * Pure: the rules of tenant isolation in one place.
 *
 * - A token with the admin role sees every project (and may filter by `project_id`).
 * - Any other token sees only its own project's volumes, backups and jobs; an object of
 *   another project is answered exactly like one that does not exist (404, never 403), so
 *   ids of other projects cannot be probed.
 * - Acting (back up now, verify, cancel) needs the action role (or the admin role); restore
 *   needs the admin role.
 */
import { AppError } from '../errors.js';

export interface Caller {
  userId: string;
  /** The token's project; null for an unscoped token (sees nothing unless admin). */
  projectId: string | null;
  roles: readonly string[];
  /** When Keystone says the token expires. */
  expiresAt: Date;
}

export interface RoleNames {
  /** Role that sees every project and may restore; default `admin`. */
  adminRole: string;
  /** Role that may start backups and verifies and cancel jobs; default `member`. */
  actionRole: string;
}

export const DEFAULT_ROLES: RoleNames = { adminRole: 'admin', actionRole: 'member' };

export function isAdmin(caller: Caller, roles: RoleNames): boolean {
  return caller.roles.includes(roles.adminRole);
}

/**
 * The project a caller's queries are limited to: null means every project (admin).
 * A non-admin token without a project sees nothing; it is refused as unauthenticated.
 */
export function projectScope(caller: Caller, roles: RoleNames): string | null {
  if (isAdmin(caller, roles)) return null;
  if (caller.projectId === null) {
    throw new AppError(
      'UNAUTHENTICATED',
      'the token is not scoped to a project; ask Keystone for a project-scoped token',
    );
  }
  return caller.projectId;
}

/** True when the caller may see an object of `projectId`. */
export function canSee(caller: Caller, roles: RoleNames, projectId: string): boolean {
  return isAdmin(caller, roles) || (caller.projectId !== null && caller.projectId === projectId);
}

/** Throws FORBIDDEN unless the caller may act (back up now, verify, cancel). */
export function requireActionRole(caller: Caller, roles: RoleNames): void {
  if (isAdmin(caller, roles) || caller.roles.includes(roles.actionRole)) return;
  throw new AppError('FORBIDDEN', `this action needs the "${roles.actionRole}" role`);
}

/** Throws FORBIDDEN unless the caller has the admin role. */
export function requireAdminRole(caller: Caller, roles: RoleNames): void {
  if (isAdmin(caller, roles)) return;
  throw new AppError('FORBIDDEN', `this action needs the "${roles.adminRole}" role`);
}
