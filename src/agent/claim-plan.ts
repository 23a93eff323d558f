/**
 * How many jobs of which kinds the agent may claim now for one of its hosts: the node-wide
 * limit and, for jobs that hold a snapshot or write a volume (backup, restore), the
 * per-volume-group limit. The agent asks host by host, adding what it claimed to `running`
 * before it asks for the next host.
 */
import type { JobKind } from '../jobs/job.js';
import type { ServedHost } from './agent-options.js';

/** Kinds that hold an LVM snapshot or write an LV: they count against the VG limit. */
export const VG_BOUND_KINDS: readonly JobKind[] = ['backup', 'restore'];
const LIGHT_KINDS: readonly JobKind[] = ['verify', 'prune'];
const ALL_KINDS: readonly JobKind[] = [...VG_BOUND_KINDS, ...LIGHT_KINDS];

export interface ClaimStep {
  host: string;
  kinds: readonly JobKind[];
  limit: number;
}

/** What to claim for `host` now, or null when nothing may start. */
export function planClaim(input: {
  host: ServedHost;
  hosts: readonly ServedHost[];
  running: readonly { host: string; kind: JobKind }[];
  concurrency: number;
  perVg: number;
}): ClaimStep | null {
  const free = input.concurrency - input.running.length;
  if (free <= 0) return null;
  const vgOf = new Map(input.hosts.map((h) => [h.host, h.vg]));
  const vgBusy = input.running.filter(
    (r) => vgOf.get(r.host) === input.host.vg && VG_BOUND_KINDS.includes(r.kind),
  ).length;
  const vgFree = input.perVg - vgBusy;
  // With VG room, any kind, but no more than the VG takes (a claim may return only
  // VG-bound jobs); without, only the kinds that leave LVM alone.
  return vgFree > 0
    ? { host: input.host.host, kinds: ALL_KINDS, limit: Math.min(free, vgFree) }
    : { host: input.host.host, kinds: LIGHT_KINDS, limit: free };
}
