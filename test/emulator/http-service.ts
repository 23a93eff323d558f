/**
 * One emulated HTTP service (Keystone, Cinder or Nova) on 127.0.0.1: request parsing,
 * recording, failure injection, and stop/start on the same port to emulate a service that
 * is down (connection refused) and comes back.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server, Socket } from 'node:net';

/** A request as the handlers and the tests see it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, the raw text when it is not JSON, undefined when empty. */
  body: unknown;
  at: Date;
}

/** What a handler answers; a non-string body is sent as JSON. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Handler = (req: RecordedRequest) => HttpResponse | Promise<HttpResponse>;

/** A failure the service injects in place of `times` matching requests. */
export interface FailureRule {
  /**
   * `status`: answer with `status`; `timeout`: never answer; `reset`: drop the connection;
   * `truncate`: send the real answer's status and headers (Content-Length of the whole body)
   * but only the first half of its body, then drop the connection (a proxy or a Cinder API
   * worker dying mid-answer).
   */
  kind: 'status' | 'timeout' | 'reset' | 'truncate';
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many requests to fail; Infinity until cleared. */
  times: number;
  match?: (req: RecordedRequest) => boolean;
}

const MAX_RECORDED = 20_000;

/** An HTTP server whose behaviour comes from `handler` plus the injected failures. */
export class EmulatedService {
  readonly requests: RecordedRequest[] = [];
  failures: FailureRule[] = [];
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;

  constructor(
    readonly name: string,
    private readonly handler: Handler,
    /** Serve HTTPS with this key and certificate instead of plain HTTP. */
    private readonly tls?: { key: string | Buffer; cert: string | Buffer },
  ) {}

  /** `http://127.0.0.1:<port>` or `https://...`. */
  get baseUrl(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Listens on 127.0.0.1 (a random port the first time, the same port after a stop). */
  async start(): Promise<void> {
    if (this.server !== null) return;
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.dispatch(req.method ?? 'GET', req.url ?? '/', req.headers, chunks)
          .then((answer) => {
            if (answer === 'timeout') return;
            if (answer === 'reset') {
              req.socket.destroy();
              return;
            }
            const truncate = 'truncate' in answer;
            const out = 'truncate' in answer ? answer.response : answer;
            const isText = typeof out.body === 'string';
            const payload =
              out.body === undefined
                ? ''
                : isText
                  ? (out.body as string)
                  : JSON.stringify(out.body);
            const headers: Record<string, string> = {
              ...(out.body === undefined
                ? {}
                : { 'Content-Type': isText ? 'text/plain' : 'application/json' }),
              ...out.headers,
              'Content-Length': String(Buffer.byteLength(payload)),
            };
            res.writeHead(out.status, headers);
            if (truncate) {
              const bytes = Buffer.from(payload);
              res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () =>
                req.socket.destroy(),
              );
              return;
            }
            res.end(payload);
          })
          .catch((err: unknown) => {
            res.writeHead(500, { 'Content-Type': 'text/plain' });
            res.end(`emulator bug: ${String(err)}`);
          });
      });
    };
    const server: Server =
      this.tls === undefined ? createServer(listener) : createHttpsServer(this.tls, listener);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
    this.boundPort = addr.port;
    this.server = server;
  }

  /** Stops listening and drops every open connection: clients then get ECONNREFUSED. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Adds a failure rule; returns it so a test can inspect `times` left. */
  inject(rule: FailureRule): FailureRule {
    this.failures.push(rule);
    return rule;
  }

  clearFailures(): void {
    this.failures = [];
  }

  private async dispatch(
    method: string,
    rawUrl: string,
    headers: IncomingHttpHeaders,
    chunks: Buffer[],
  ): Promise<HttpResponse | { truncate: true; response: HttpResponse } | 'timeout' | 'reset'> {
    const url = new URL(rawUrl, 'http://emulator.invalid');
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = text;
      }
    }
    const req: RecordedRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers,
      body,
      at: new Date(),
    };
    this.requests.push(req);
    if (this.requests.length > MAX_RECORDED) this.requests.splice(0, MAX_RECORDED / 2);

    const rule = this.failures.find((f) => f.times > 0 && (f.match === undefined || f.match(req)));
    if (rule !== undefined) {
      rule.times -= 1;
      if (rule.kind === 'timeout') return 'timeout';
      if (rule.kind === 'reset') return 'reset';
      if (rule.kind === 'truncate') return { truncate: true, response: await this.handler(req) };
      return {
        status: rule.status ?? 503,
        headers: rule.headers ?? {},
        body: rule.body ?? defaultFailureBody(rule.status ?? 503),
      };
    }
    return this.handler(req);
  }
}

/** Bodies shaped like what sits in front of a real API when it fails (haproxy/uwsgi). */
function defaultFailureBody(status: number): string {
  if (status === 429) return '429 Too Many Requests\nYou have sent too many requests.';
  if (status === 503) return '503 Service Unavailable\nNo server is available.';
  if (status === 502) return '502 Bad Gateway';
  if (status === 504) return '504 Gateway Time-out';
  return `${status} error`;
}
