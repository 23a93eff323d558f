/**
 * What went wrong on an SSH connection, from ssh's exit code (255 is ssh's own failure)
 * and the tail of its stderr. Pure. The messages name the target and the cause; stderr is
 * ssh's and the remote program's own text (never a credential: those stay in option files).
 */
import { AppError, type ErrorCode } from '../errors.js';

interface Rule {
  test: RegExp;
  code: ErrorCode;
  why: string;
}

const RULES: Rule[] = [
  {
    test: /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i,
    code: 'SSH_HOST_KEY_CHANGED',
    why: 'its host key changed since it was added to known_hosts; if the change is expected, check the new fingerprint and run `ssh add-host-key` again',
  },
  {
    test: /No \S+ host key is known for|Host key verification failed/i,
    code: 'SSH_HOST_KEY_UNKNOWN',
    why: 'its host key is not in the known_hosts file; add it with `ssh add-host-key HOST[:PORT] --fingerprint SHA256:...`',
  },
  { test: /Connection refused/i, code: 'SSH_UNREACHABLE', why: 'the connection was refused' },
  {
    test: /timed out|Connection timed out/i,
    code: 'SSH_UNREACHABLE',
    why: 'the connection timed out',
  },
  {
    test: /No route to host|Network is unreachable|Could not resolve hostname|Name or service not known/i,
    code: 'SSH_UNREACHABLE',
    why: 'there is no route to it',
  },
  {
    test: /Connection closed by|Connection reset|kex_exchange_identification|Broken pipe/i,
    code: 'SSH_UNREACHABLE',
    why: 'it closed the connection',
  },
  {
    test: /Permission denied|Too many authentication failures|Invalid user/i,
    code: 'SSH_AUTH_FAILED',
    why: "it refused the operator's user or key",
  },
  {
    test: /Load key .*: |no such identity|bad permissions/i,
    code: 'SSH_AUTH_FAILED',
    why: 'the operator key cannot be used',
  },
];

/** The error of a failed ssh connection (exit 255), or null when ssh itself did not fail. */
export function sshConnectionError(
  target: string,
  exitCode: number,
  stderr: string,
): AppError | null {
  if (exitCode !== 255) return null;
  const rule = RULES.find((r) => r.test.test(stderr));
  const last = stderr.trim().split('\n').filter(Boolean).at(-1) ?? '';
  return new AppError(
    rule?.code ?? 'SSH_UNREACHABLE',
    `ssh to ${target} failed: ${rule?.why ?? 'ssh exited with 255'}${last ? ` (${last.slice(0, 300)})` : ''}`,
    { details: { target, exitCode } },
  );
}
