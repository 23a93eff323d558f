/**
 * HTTP requests to OpenStack with capped, jittered exponential backoff for what may pass by
 * itself: no answer (refused, reset, timeout), 5xx, and 429 (honouring Retry-After up to
 * the cap). Non-idempotent requests are retried only when the server cannot have acted
 * (refused connection, 429, 503).
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { AppError, isRetryable } from '../errors.js';
import type { Logger } from '../log.js';
import {
  OpenStackApiError,
  failureFacts,
  isTlsFailure,
  isTransient,
  sanitizedCause,
  type FailureFacts,
  type ServiceLabel,
} from './api-error.js';
import { jitteredBackoff } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';

/** How hard to try. */
export interface RetryPolicy {
  /** Total attempts including the first; default 5. */
  attempts: number;
  /** First backoff; doubles each time; default 500 ms. */
  baseDelayMs: number;
  /** Cap of one backoff (also of a Retry-After); default 15 s. */
  maxDelayMs: number;
  /** Per-attempt timeout; default 30 s. */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  timeoutMs: 30_000,
};

/** The delay before attempt `attempt + 1` (attempt counts from 1). Pure. */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterSeconds: number | null,
  random: () => number = Math.random,
): number {
  if (retryAfterSeconds !== null) return Math.min(retryAfterSeconds * 1000, policy.maxDelayMs);
  return Math.round(
    jitteredBackoff(attempt, { base: policy.baseDelayMs, cap: policy.maxDelayMs, random }),
  );
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * Sockets are kept alive for idempotent requests only: Cinder under uwsgi may close a kept
 * connection without notice, and a POST on it would fail half-sent (wire reference G).
 */
const keepAliveHttp = new HttpAgent({ keepAlive: true, maxSockets: 8 });
const keepAliveHttps = new HttpsAgent({ keepAlive: true, maxSockets: 8 });
// Node 20's global agent keeps sockets alive too, so one-shot requests get their own.
const oneShotHttp = new HttpAgent({ keepAlive: false });
const oneShotHttps = new HttpsAgent({ keepAlive: false });

/** HTTPS agents built from the TLS settings of one set of credentials. */
export interface TlsAgents {
  keepAlive: HttpsAgent;
  oneShot: HttpsAgent;
}

/** Agents that trust `ca` in addition to the system CAs, or verify nothing (`insecure`). */
export function tlsAgents(options: { ca?: Buffer; insecure?: boolean }): TlsAgents {
  const tls = {
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    rejectUnauthorized: options.insecure !== true,
  };
  return {
    keepAlive: new HttpsAgent({ keepAlive: true, maxSockets: 8, ...tls }),
    oneShot: new HttpsAgent({ keepAlive: false, ...tls }),
  };
}

/** What one request needs besides its config. */
export interface RetryContext {
  service: ServiceLabel;
  policy: RetryPolicy;
  logger: Logger;
  signal?: AbortSignal;
  /** For messages: the URL without query and secrets. */
  label: string;
  /** Treat a non-idempotent method as safe to repeat (issuing a Keystone token is). */
  idempotent?: boolean;
  /** HTTPS agents with the credentials' CA / verification settings. */
  tls?: TlsAgents;
}

/** Whether repeating the request is safe: the server cannot have acted on it. */
function safeToRepeat(idempotent: boolean, f: FailureFacts): boolean {
  if (idempotent) return true;
  // The server did not act on a refused connection, a 429 or a 503.
  return f.networkCode === 'ECONNREFUSED' || f.status === 429 || f.status === 503;
}

/** The error of a request whose signal aborted: the abort reason when it is an AppError. */
function cancelled(ctx: RetryContext, method: string): AppError {
  const reason: unknown = ctx.signal?.reason;
  return reason instanceof AppError
    ? reason
    : new AppError('ABORTED', `${method} ${ctx.label} was cancelled`, { cause: reason });
}

/** Describes a failure for people, without secrets. */
export function describeFailure(service: ServiceLabel, label: string, f: FailureFacts): string {
  if (isTlsFailure(f)) {
    return `${service} at ${label}: TLS certificate not trusted (${f.networkCode ?? ''}); set OS_CACERT (cacert in clouds.yaml) to its CA bundle`;
  }
  if (f.status === null)
    return `${service} at ${label} did not answer (${f.networkCode ?? 'network error'})`;
  return `${service} answered ${f.status} to ${label}${f.faultMessage === null ? '' : `: ${f.faultMessage}`}`;
}

/**
 * Sends `config` with retries. Resolves with the response of a 2xx; rejects with an
 * OpenStackApiError otherwise (code OPENSTACK_UNAVAILABLE for what stayed transient,
 * OPENSTACK_API_ERROR for other answers, whose `status` callers branch on).
 */
export async function requestWithRetry<T>(
  config: AxiosRequestConfig,
  ctx: RetryContext,
): Promise<AxiosResponse<T>> {
  const method = (config.method ?? 'GET').toUpperCase();
  const idempotent = ctx.idempotent ?? IDEMPOTENT.has(method);
  for (let attempt = 1; ; attempt++) {
    try {
      return await axios.request<T>({
        ...config,
        method,
        timeout: ctx.policy.timeoutMs,
        httpAgent: idempotent ? keepAliveHttp : oneShotHttp,
        httpsAgent: idempotent
          ? (ctx.tls?.keepAlive ?? keepAliveHttps)
          : (ctx.tls?.oneShot ?? oneShotHttps),
        headers: { ...(idempotent ? {} : { Connection: 'close' }), ...config.headers },
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
        // Never follow redirects silently with an auth token.
        maxRedirects: 0,
      });
    } catch (err) {
      // Never rethrow the axios error itself: it holds the request headers (the token).
      if (ctx.signal?.aborted === true) throw cancelled(ctx, method);
      const f = failureFacts(err);
      const message = describeFailure(ctx.service, `${method} ${ctx.label}`, f);
      const transient = isTransient(f);
      const failure = new OpenStackApiError(
        transient || isTlsFailure(f) ? 'OPENSTACK_UNAVAILABLE' : 'OPENSTACK_API_ERROR',
        message,
        {
          status: f.status,
          service: ctx.service,
          cause: sanitizedCause(f, method, ctx.label),
          // An untrusted certificate stays untrusted: no point in retrying the operation.
          retryable: transient,
        },
      );
      if (!isRetryable(failure) || !safeToRepeat(idempotent, f)) throw failure;
      if (attempt >= ctx.policy.attempts) {
        failure.message += ` (gave up after ${attempt} attempt${attempt > 1 ? 's' : ''})`;
        throw failure;
      }
      const delayMs = backoffDelay(
        ctx.policy,
        attempt,
        f.status === 429 ? f.retryAfterSeconds : null,
      );
      ctx.logger.warn(
        { service: ctx.service, status: f.status, networkCode: f.networkCode, attempt, delayMs },
        `${message}; retrying`,
      );
      if (!(await sleep(delayMs, ctx.signal))) throw cancelled(ctx, method);
    }
  }
}
