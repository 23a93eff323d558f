/**
 * Turning an axios failure into an AppError that is safe to log.
 *
 * An AxiosError carries the request config (the X-Auth-Token header, the Keystone password
 * in the body) and the socket; pino's error serializer would print all of it. So the
 * AppError built here keeps only a sanitised cause: method, path, status, the OpenStack
 * fault message, the network error code.
 */
import { isAxiosError } from 'axios';
import { AppError, type ErrorCode } from '../errors.js';

/** The OpenStack service a request went to, for messages. */
export type ServiceLabel = 'keystone' | 'cinder' | 'nova';

/** An OpenStack API answered or failed; `status` is null when no HTTP answer came. */
export class OpenStackApiError extends AppError {
  readonly status: number | null;
  readonly service: ServiceLabel;

  constructor(
    code: ErrorCode,
    message: string,
    args: { status: number | null; service: ServiceLabel; cause?: unknown; retryable?: boolean },
  ) {
    super(code, message, {
      cause: args.cause,
      ...(args.retryable === undefined ? {} : { retryable: args.retryable }),
      details: { service: args.service, status: args.status },
    });
    this.name = 'OpenStackApiError';
    this.status = args.status;
    this.service = args.service;
  }
}

/** What a failed request amounts to, without any secret-bearing object. */
export interface FailureFacts {
  status: number | null;
  /** Network error code (ECONNREFUSED...) or null. */
  networkCode: string | null;
  /** Fault message from the body (Keystone `error.message`, Cinder/Nova `{name: {message}}`). */
  faultMessage: string | null;
  /** Seconds from a Retry-After header, when present and numeric. */
  retryAfterSeconds: number | null;
}

/** Reads the fault message out of the body shapes OpenStack services use. */
export function faultMessageOf(body: unknown): string | null {
  if (typeof body === 'string') {
    const line = body.trim().split('\n')[0] ?? '';
    return line.length > 0 ? line.slice(0, 300) : null;
  }
  if (typeof body !== 'object' || body === null) return null;
  for (const value of Object.values(body as Record<string, unknown>)) {
    if (typeof value === 'object' && value !== null) {
      const msg = (value as Record<string, unknown>)['message'];
      if (typeof msg === 'string') return msg.slice(0, 300);
    }
  }
  return null;
}

/** Extracts the facts of an axios (or other) failure. */
export function failureFacts(err: unknown): FailureFacts {
  if (isAxiosError(err)) {
    const res = err.response;
    const retryAfter = res?.headers['retry-after'] as unknown;
    const ra =
      typeof retryAfter === 'string' && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
    return {
      status: res?.status ?? null,
      networkCode: res === undefined ? (err.code ?? 'ERR_NETWORK') : null,
      faultMessage: res === undefined ? null : faultMessageOf(res.data),
      retryAfterSeconds: ra,
    };
  }
  const code = (err as { code?: unknown } | null)?.code;
  return {
    status: null,
    networkCode: typeof code === 'string' ? code : null,
    faultMessage: null,
    retryAfterSeconds: null,
  };
}

/** Certificate problems: retrying does not help, configuration does (OS_CACERT). */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether the failure is a TLS certificate that is not trusted. */
export function isTlsFailure(f: FailureFacts): boolean {
  return f.networkCode !== null && TLS_CODES.has(f.networkCode);
}

/** Whether a failure may go away by itself: no answer, 5xx, or 429. */
export function isTransient(f: FailureFacts): boolean {
  if (isTlsFailure(f)) return false;
  // No answer at all (refused, reset, timed out): the service may be back in a moment.
  if (f.status === null) return true;
  return (
    f.status === 429 || f.status === 500 || f.status === 502 || f.status === 503 || f.status === 504
  );
}

/** A log- and JSON-safe stand-in for the original error. */
export function sanitizedCause(f: FailureFacts, method: string, path: string): Error {
  const what = f.status === null ? (f.networkCode ?? 'network error') : `HTTP ${f.status}`;
  const e = new Error(
    `${method} ${path}: ${what}${f.faultMessage === null ? '' : `: ${f.faultMessage}`}`,
  );
  e.name = 'OpenStackRequestFailure';
  return e;
}
