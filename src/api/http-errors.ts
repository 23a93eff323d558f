/**
 * Errors as the API answers them: `{"error": {"code", "message"}}` with a stable code of
 * src/errors.ts and the HTTP status that code means. Internal failures say only that
 * something failed (details go to the log, never to the caller).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { lingeringClose } from './lingering-close.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  POLICY_INVALID: 409,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  VOLUME_NOT_FOUND: 404,
  BACKUP_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  REQUEST_TOO_LARGE: 413,
  BACKUP_NOT_USABLE: 409,
  JOB_CONFLICT: 409,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 409,
  TARGET_TOO_SMALL: 409,
  TARGET_IN_USE: 409,
  TARGET_REFUSED: 409,
  TARGET_MAINTENANCE_FAILED: 502,
  DB_UNAVAILABLE: 503,
  AMQP_UNAVAILABLE: 503,
  OPENSTACK_UNAVAILABLE: 503,
  OPENSTACK_AUTH_FAILED: 503,
  OPENSTACK_API_ERROR: 502,
};

/** The HTTP status for an error code (500 for anything not listed). */
export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** The JSON body of an error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Fastify's own errors (validation, body size, content type) as AppErrors. */
export function fromFastifyError(err: FastifyError): AppError {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new AppError('REQUEST_TOO_LARGE', err.message, { cause: err });
  }
  if (err.validation !== undefined) {
    return new AppError('INVALID_ARGUMENT', err.message, { cause: err });
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError('INVALID_ARGUMENT', err.message, {
      cause: err,
      details: { status: err.statusCode },
    });
  }
  return new AppError('INTERNAL', err.message, { cause: err });
}

/** Installs the error and not-found handlers on an app. */
export function errorHandlers(
  logger: Logger,
  /** The `WWW-Authenticate` value of a 401: `Keystone uri="<auth url>"`. */
  wwwAuthenticate: string,
): {
  onError: (err: unknown, req: FastifyRequest, reply: FastifyReply) => FastifyReply;
  onNotFound: (req: FastifyRequest, reply: FastifyReply) => FastifyReply;
} {
  return {
    onError(err, req, reply) {
      const e =
        err instanceof AppError
          ? err
          : err instanceof Error && 'code' in err
            ? fromFastifyError(err as FastifyError)
            : new AppError('INTERNAL', String(err), { cause: err });
      const fastifyStatus = e.details?.['status'];
      const status =
        e.code === 'INVALID_ARGUMENT' && typeof fastifyStatus === 'number'
          ? fastifyStatus
          : httpStatusOf(e.code);
      if (status >= 500) {
        logger.error({ err: e, code: e.code, url: req.url, method: req.method }, 'API error');
      }
      const message =
        e.code === 'INTERNAL' ? 'internal error; the service log has the details' : e.message;
      if (e.code === 'UNAUTHENTICATED') void reply.header('WWW-Authenticate', wwwAuthenticate);
      const retryAfter = e.details?.['retryAfterSeconds'];
      if (e.code === 'RATE_LIMITED' && typeof retryAfter === 'number') {
        void reply.header('Retry-After', String(Math.max(1, Math.ceil(retryAfter))));
      }
      return reply.code(status).send(errorBody(e.code, message));
    },
    onNotFound(req, reply) {
      return reply
        .code(404)
        .send(errorBody('ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
    },
  };
}

/**
 * What Node's HTTP parser refuses before any route runs (a garbage request line, an unknown
 * method, a NUL or newline in a header, a bad or doubled length, headers over 16 KiB, a
 * client that hangs up mid-body) answered in the API's error shape on the raw socket, then
 * the connection closed. Fastify's default answered `{"error": "Bad Request", ...}`: JSON
 * without a code (test/reliability/bad-input.test.ts).
 */
export function clientErrorHandler(
  logger: Logger,
): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has no one to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const code = typeof err.code === 'string' ? err.code : 'unknown';
    const [status, body] =
      code === 'HPE_HEADER_OVERFLOW'
        ? [431, errorBody('REQUEST_TOO_LARGE', 'the request line and headers exceed 16 KiB')]
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, errorBody('INVALID_ARGUMENT', 'the request did not arrive in time')]
          : [400, errorBody('INVALID_ARGUMENT', `malformed HTTP request (${code})`)];
    logger.debug({ code, status }, 'malformed HTTP request refused');
    if (socket.writable) {
      const text = JSON.stringify(body);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    // Not destroy(): a client still sending would get RST and lose this answer.
    lingeringClose(socket);
  };
}
