/**
 * The hostile exclude patterns the guest end-to-end test gives the canary volume: the
 * shell-, tar-option-, path- and SQL-shaped fragments of the bad-input scenario
 * (test/reliability/hostile-values.ts), plus tar options smuggled inside a pattern, each
 * naming its own canary file (in the guest's /tmp or in /out, shared with the host). Every
 * candidate goes through the real policy parser alone: what it accepts is packed into one
 * `backup:exclude` value (within the parser's limits), what it refuses is kept with the
 * reason. If any accepted pattern ever reached a shell, or tar took it as an option, its
 * canary would exist after the agent's backup.
 */
import { DEFAULT_POLICY_LIMITS, parsePolicy, type BackupPolicy } from '../../src/policy/policy.js';
import { attackFragments } from '../reliability/hostile-values.js';

export interface HostileExcludes {
  /** The metadata the canary volume carries. */
  metadata: Record<string, string>;
  /** The policy the parser makes of it (what the controller records). */
  policy: BackupPolicy;
  /** Candidates the parser refused on their own, with its reason. */
  refused: { value: string; reason: string }[];
  /** Every path a hostile value would create if it were ever run (accepted or not). */
  canaries: string[];
}

/** Tar options that would write a file, hidden inside a pattern (a leading `-` is refused). */
function smuggledTarOptions(canary: (i: number) => string): string[] {
  return [
    `*.log --checkpoint=1 --checkpoint-action=exec=touch ${canary(100)}`,
    `x --to-command=touch ${canary(101)}`,
    `x --use-compress-program=touch ${canary(102)}`,
    `x --file=${canary(103)}`,
    `x' --index-file=${canary(104)} '`,
    `*" --index-file=${canary(105)} "`,
    `$(touch ${canary(106)})*`,
    `x\` touch ${canary(107)} \`x`,
  ];
}

/**
 * The hostile excludes of one run; `tag` (a few hex digits) makes the canary names unique
 * (`clbc-<tag>-<n>`), so that a stale file from another run is never taken for one.
 */
export function hostileExcludes(tag: string): HostileExcludes {
  const canary = (i: number): string =>
    i % 2 === 0 ? `/tmp/clbc-${tag}-${i}` : `/out/clbc-${tag}-${i}`;
  const fragments = attackFragments(canary(0)).map((_, i) => attackFragments(canary(i))[i] ?? '');
  const candidates = [...smuggledTarOptions(canary), ...fragments];
  const numbers = [...fragments.keys(), 100, 101, 102, 103, 104, 105, 106, 107];
  const canaries = numbers.map(canary).filter((c) => candidates.some((v) => v.includes(c)));
  const accepted: string[] = [];
  const refused: { value: string; reason: string }[] = [];
  for (const value of candidates) {
    const r = parsePolicy({ backup: 'daily', 'backup:exclude': value });
    if (r.kind === 'policy') accepted.push(value);
    else refused.push({ value, reason: r.kind === 'error' ? r.message : r.kind });
  }
  // As many as one metadata value holds.
  const packed: string[] = [];
  let patterns = 0;
  for (const value of accepted) {
    const n = value.split(',').length;
    const joined = [...packed, value].join(',');
    if (joined.length > DEFAULT_POLICY_LIMITS.maxValueLength) continue;
    if (patterns + n > DEFAULT_POLICY_LIMITS.maxExcludePatterns) continue;
    packed.push(value);
    patterns += n;
  }
  const metadata = { backup: 'daily', 'backup:exclude': packed.join(',') };
  const r = parsePolicy(metadata);
  if (r.kind !== 'policy') {
    throw new Error(`the packed hostile excludes are refused: ${JSON.stringify(r)}`);
  }
  return { metadata, policy: r.policy, refused, canaries };
}
