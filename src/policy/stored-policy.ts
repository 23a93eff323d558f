/**
 * What the agent and the prune command read from a volume's stored policy (volumes.policy,
 * written by the controller as a BackupPolicy): excludes for the engine and retention for
 * pruning. The JSON is checked field by field here rather than trusted. Pure.
 */
import type { RetentionPolicy } from './retention.js';
import { isRecord } from '../is-record.js';

export interface PolicyInputs {
  excludes: string[];
  retention: RetentionPolicy;
  /** True when the policy names at least one retention rule. */
  hasRetention: boolean;
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
  return { excludes, retention, hasRetention: Object.keys(retention).length > 0 };
}
