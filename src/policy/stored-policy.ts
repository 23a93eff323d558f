/**
 * What the agent and the prune command read from a volume's stored policy (volumes.policy,
 * written by the controller as a BackupPolicy): excludes for the engine, retention for
 * pruning, and whether backups form incremental chains. The JSON is checked field by field here rather than trusted. Pure.
 */
import type { RetentionPolicy } from './retention.js';
import { incrementalFrom, type IncrementalPolicy } from './incremental.js';
import { isRecord } from '../is-record.js';
import { isLevel, type Level } from './consistency-levels.js';
import {
  parseFreeze,
  parseMysqldump,
  type FreezeOption,
  type MysqldumpOption,
} from './consistency-options.js';

export interface PolicyInputs {
  excludes: string[];
  retention: RetentionPolicy;
  /** True when the policy names at least one retention rule. */
  hasRetention: boolean;
  /** Incremental chains; off for a policy stored before they existed. */
  incremental: IncrementalPolicy;
}

const RETENTION_KEYS = ['keepLast', 'daily', 'weekly', 'monthly', 'maxAgeDays'] as const;

/** Retention fields that are whole numbers ≥ 0; anything else is dropped. */
export function retentionFrom(value: unknown): RetentionPolicy {
  const out: RetentionPolicy = {};
  if (!isRecord(value)) return out;
  for (const k of RETENTION_KEYS) {
    const n = value[k];
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0) out[k] = n;
  }
  return out;
}

export function policyInputs(policy: Record<string, unknown> | null): PolicyInputs {
  const excludes =
    policy !== null && Array.isArray(policy['excludes'])
      ? policy['excludes'].filter((x): x is string => typeof x === 'string')
      : [];
  const retention = retentionFrom(policy?.['retention']);
  return {
    excludes,
    retention,
    hasRetention: Object.keys(retention).length > 0,
    incremental: incrementalFrom(policy?.['incremental']),
  };
}

/** The application-consistency part of a stored policy, re-checked with the tag grammars. */
export interface ConsistencyInputs {
  mysqldump: MysqldumpOption | null;
  freeze: FreezeOption | null;
  /** backup:consistency, or null: what the steps imply. */
  level: Level | null;
}

/**
 * Reads `mysqldump`, `freeze` and `consistency` of a stored policy. Each value goes through
 * the same parser as the tag did, so whatever reaches the instance's command line obeys its
 * grammar even if the stored JSON were altered; a value that fails it counts as not asked.
 */
export function consistencyInputs(policy: Record<string, unknown> | null): ConsistencyInputs {
  const m = policy?.['mysqldump'];
  let mysqldump: MysqldumpOption | null = null;
  if (isRecord(m)) {
    const dbs = m['databases'];
    const text =
      dbs === 'all'
        ? 'all'
        : Array.isArray(dbs) && dbs.length > 0 && dbs.every((d) => typeof d === 'string')
          ? dbs.join(',')
          : null;
    const parsed = text === null ? null : parseMysqldump(text);
    if (parsed?.ok === true) mysqldump = parsed.value;
  }
  const f = policy?.['freeze'];
  let freeze: FreezeOption | null = null;
  if (isRecord(f) && Array.isArray(f['mountpoints']) && f['mountpoints'].length > 0) {
    const mps = f['mountpoints'];
    if (mps.every((p) => typeof p === 'string')) {
      const parsed = parseFreeze(mps.join(','));
      if (parsed.ok) freeze = parsed.value;
    }
  }
  const c = policy?.['consistency'];
  return { mysqldump, freeze, level: isLevel(c) ? c : null };
}
