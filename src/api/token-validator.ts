/**
 * Validates callers' Keystone tokens with a small cache: a token Keystone accepted is
 * trusted for at most `maxAgeSeconds` (60) and never past its `expires_at`; concurrent
 * requests with the same token share one validation. The cache is keyed by the token's
 * sha256, so the map holds no token. A token Keystone refused is not cached (a fresh one
 * may become valid; and a flood of bad tokens is Keystone's rate limiting to make).
 */
import { createHash } from 'node:crypto';
import { AppError, toAppError } from '../errors.js';
import type { ValidatedToken } from '../openstack/keystone.js';
import type { Caller } from './caller.js';

/** Asks Keystone about a token: what it says, or null when it is not valid. */
export type ValidateFn = (token: string) => Promise<ValidatedToken | null>;

export interface TokenValidatorOptions {
  validate: ValidateFn;
  /** Longest time a validation is reused; default 60 s. */
  maxAgeSeconds?: number;
  /** Entries kept at most (oldest dropped first); default 10,000. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  caller: Caller;
  until: number;
}

/** Longest accepted token: Keystone's fernet tokens are ~200 bytes, JWS ~ 800. */
const MAX_TOKEN_LENGTH = 8192;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

export class TokenValidator {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Caller | null>>();
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Validations sent to Keystone (tests and metrics). */
  keystoneCalls = 0;

  constructor(private readonly o: TokenValidatorOptions) {
    this.maxAgeMs = (o.maxAgeSeconds ?? 60) * 1000;
    this.maxEntries = o.maxEntries ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  /**
   * The caller behind `token`, or null when there is none or Keystone refuses it. Throws
   * OPENSTACK_UNAVAILABLE (and the like) when Keystone cannot answer: the API then says
   * 503, not 401, so a client does not throw a good token away.
   */
  async authenticate(token: string | undefined): Promise<Caller | null> {
    if (token === undefined || token.length === 0) return null;
    if (token.length > MAX_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) return null;
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (this.now() < hit.until) return hit.caller;
      this.cache.delete(key);
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      pending = this.ask(key, token).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /** Forgets every cached validation (tests; a revocation event could call it). */
  clear(): void {
    this.cache.clear();
  }

  private async ask(key: string, token: string): Promise<Caller | null> {
    this.keystoneCalls += 1;
    let v: ValidatedToken | null;
    try {
      v = await this.o.validate(token);
    } catch (err) {
      const e = toAppError(err, 'OPENSTACK_UNAVAILABLE');
      throw new AppError(
        e.code === 'OPENSTACK_API_ERROR' ? 'OPENSTACK_UNAVAILABLE' : e.code,
        `Keystone could not validate the token: ${e.message}`,
        { cause: err, retryable: true },
      );
    }
    const now = this.now();
    if (v === null || v.expiresAt.getTime() <= now) return null;
    const caller: Caller = {
      userId: v.userId,
      projectId: v.projectId,
      roles: v.roles,
      expiresAt: v.expiresAt,
    };
    const until = Math.min(now + this.maxAgeMs, v.expiresAt.getTime());
    if (this.cache.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(key, { caller, until });
    return caller;
  }
}
