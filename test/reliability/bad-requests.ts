/**
 * Malformed API requests and oversized bodies for the bad-input scenario, written as raw
 * bytes (node:net) so that what no HTTP client would send (a bad request line, a NUL in a
 * header, two lengths) can be sent too. Each is answered by the real API server.
 */
import net from 'node:net';

export interface BadRequest {
  name: string;
  /** The request bytes; `token` is a valid Keystone token of a project member. */
  bytes: (token: string) => Buffer;
  /** The client hangs up after sending (its body is shorter than it said). */
  halfClose?: boolean;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const UUID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/** An HTTP/1.1 request; Content-Length from the body unless a header sets one. */
function http(
  method: string,
  path: string,
  opts: { token?: string; headers?: [string, string][]; body?: Buffer | string } = {},
): Buffer {
  const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.from(opts.body);
  const headers: [string, string][] = [
    ['Host', '127.0.0.1'],
    ['Connection', 'close'],
  ];
  if (opts.token !== undefined) headers.push(['X-Auth-Token', opts.token]);
  headers.push(...(opts.headers ?? []));
  const named = (n: string): boolean => headers.some(([k]) => k.toLowerCase() === n);
  if (opts.body !== undefined && !named('content-length') && !named('transfer-encoding')) {
    headers.push(['Content-Length', String(body.length)]);
  }
  const head = `${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function post(path: string, token: string, body: string | Buffer, type = 'application/json') {
  return http('POST', path, { token, headers: [['Content-Type', type]], body });
}

function chunked(body: Buffer, size = 8192): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const c = body.subarray(i, i + size);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Every malformed request, in order. */
export function badRequests(canary: string): BadRequest[] {
  const restore = '/v1/backups/1/restore';
  const backupNow = `/v1/volumes/${UUID}/backups`;
  const list: BadRequest[] = [
    // ---- authentication --------------------------------------------------------------
    { name: 'no token', bytes: () => http('GET', '/v1/volumes') },
    { name: 'a made-up token', bytes: () => http('GET', '/v1/volumes', { token: 'garbage' }) },
    {
      name: 'a token that is SQL',
      bytes: () => http('GET', '/v1/volumes', { token: "' OR '1'='1' --" }),
    },
    {
      name: 'a token that is a shell command',
      bytes: () => http('GET', '/v1/volumes', { token: `$(touch ${canary})` }),
    },
    {
      name: 'a token of 8 KiB',
      bytes: () => http('GET', '/v1/volumes', { token: 'A'.repeat(8192) }),
    },
    {
      name: 'two tokens',
      bytes: (t) => http('GET', '/v1/volumes', { token: t, headers: [['X-Auth-Token', 'other']] }),
    },
    {
      name: 'a token with a NUL',
      bytes: (t) => http('GET', '/v1/volumes', { token: `${t}\u0000x` }),
    },
    // ---- paths and parameters ---------------------------------------------------------
    { name: 'volume id not a UUID', bytes: (t) => http('GET', '/v1/volumes/abc', { token: t }) },
    {
      name: 'volume id a path',
      bytes: (t) => http('GET', '/v1/volumes/..%2F..%2Fetc%2Fpasswd', { token: t }),
    },
    { name: 'volume id a NUL', bytes: (t) => http('GET', '/v1/volumes/%00', { token: t }) },
    {
      name: 'volume id with SQL after it',
      bytes: (t) => http('GET', `/v1/volumes/${UUID}%27%20OR%201%3D1--`, { token: t }),
    },
    {
      name: 'volume id with a broken percent escape',
      bytes: (t) => http('GET', '/v1/volumes/%E0%A4%A', { token: t }),
    },
    {
      name: 'full-width UUID',
      bytes: (t) =>
        http('GET', `/v1/volumes/${encodeURIComponent('０a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d')}`, {
          token: t,
        }),
    },
    { name: 'limit=-1', bytes: (t) => http('GET', '/v1/volumes?limit=-1', { token: t }) },
    { name: 'limit=0', bytes: (t) => http('GET', '/v1/volumes?limit=0', { token: t }) },
    { name: 'limit=abc', bytes: (t) => http('GET', '/v1/volumes?limit=abc', { token: t }) },
    { name: 'limit=1e309', bytes: (t) => http('GET', '/v1/volumes?limit=1e309', { token: t }) },
    {
      name: 'limit of 20 digits',
      bytes: (t) => http('GET', '/v1/volumes?limit=99999999999999999999', { token: t }),
    },
    {
      name: 'limit given twice',
      bytes: (t) => http('GET', '/v1/volumes?limit=1&limit=2', { token: t }),
    },
    {
      name: 'marker a path',
      bytes: (t) => http('GET', '/v1/volumes?marker=../../etc/passwd', { token: t }),
    },
    {
      name: 'project_id that is SQL',
      bytes: (t) =>
        http('GET', `/v1/volumes?project_id=${encodeURIComponent("' OR '1'='1")}`, { token: t }),
    },
    {
      name: 'status that is HTML',
      bytes: (t) => http('GET', '/v1/volumes?status=%3Cscript%3E', { token: t }),
    },
    {
      name: 'an unknown parameter',
      bytes: (t) => http('GET', '/v1/volumes?foo=bar', { token: t }),
    },
    { name: 'overdue=maybe', bytes: (t) => http('GET', '/v1/volumes?overdue=maybe', { token: t }) },
    {
      name: 'a query of 12 KiB',
      bytes: (t) => http('GET', `/v1/volumes?marker=${'m'.repeat(12 * 1024)}`, { token: t }),
    },
    { name: 'job id 0', bytes: (t) => http('GET', '/v1/jobs/0', { token: t }) },
    { name: 'job id -1', bytes: (t) => http('GET', '/v1/jobs/-1', { token: t }) },
    {
      name: 'job id of 20 digits',
      bytes: (t) => http('GET', '/v1/jobs/99999999999999999999', { token: t }),
    },
    {
      name: 'job id of 18 digits',
      bytes: (t) => http('GET', '/v1/jobs/999999999999999999', { token: t }),
    },
    { name: 'backup id 1e3', bytes: (t) => http('GET', '/v1/backups/1e3', { token: t }) },
    { name: 'cancel job abc', bytes: (t) => http('DELETE', '/v1/jobs/abc', { token: t }) },
    { name: 'PUT on a list', bytes: (t) => http('PUT', '/v1/volumes', { token: t }) },
    { name: 'OPTIONS on a list', bytes: (t) => http('OPTIONS', '/v1/volumes', { token: t }) },
    { name: 'a path out of /v1', bytes: (t) => http('GET', '/v1/../../etc/passwd', { token: t }) },
    // ---- bodies ----------------------------------------------------------------------
    { name: 'body not JSON', bytes: (t) => post(restore, t, '{nope') },
    { name: 'body cut short', bytes: (t) => post(restore, t, '{"target_volume_id":') },
    { name: 'body JSON null', bytes: (t) => post(restore, t, 'null') },
    { name: 'body a JSON array', bytes: (t) => post(restore, t, `["${UUID}"]`) },
    { name: 'body as text/plain', bytes: (t) => post(restore, t, 'restore please', 'text/plain') },
    {
      name: 'body as a form',
      bytes: (t) =>
        post(restore, t, `target_volume_id=${UUID}`, 'application/x-www-form-urlencoded'),
    },
    {
      name: 'body as XML',
      bytes: (t) => post(restore, t, '<restore/>', 'application/xml'),
    },
    {
      name: 'target a path',
      bytes: (t) => post(restore, t, JSON.stringify({ target_volume_id: '../../etc/passwd' })),
    },
    {
      name: 'target a shell command',
      bytes: (t) => post(restore, t, JSON.stringify({ target_volume_id: `$(touch ${canary})` })),
    },
    {
      name: 'target a number',
      bytes: (t) => post(restore, t, JSON.stringify({ target_volume_id: 123 })),
    },
    {
      name: 'an extra field',
      bytes: (t) => post(restore, t, JSON.stringify({ target_volume_id: UUID, force: true })),
    },
    {
      name: '__proto__ in the body',
      bytes: (t) => post(restore, t, `{"target_volume_id":"${UUID}","__proto__":{"admin":true}}`),
    },
    {
      name: 'constructor.prototype in the body',
      bytes: (t) =>
        post(
          restore,
          t,
          `{"target_volume_id":"${UUID}","constructor":{"prototype":{"admin":true}}}`,
        ),
    },
    {
      name: 'a body nested 7,000 deep',
      bytes: (t) => post(backupNow, t, `${'['.repeat(7000)}${']'.repeat(7000)}`),
    },
    {
      name: 'invalid UTF-8 in the body',
      bytes: (t) =>
        post(
          restore,
          t,
          Buffer.concat([
            Buffer.from('{"target_volume_id":"'),
            Buffer.from([0xc0, 0xaf, 0xff, 0xfe]),
            Buffer.from('"}'),
          ]),
        ),
    },
    {
      name: 'JSON announced in UTF-16',
      bytes: (t) =>
        post(
          restore,
          t,
          JSON.stringify({ target_volume_id: UUID }),
          'application/json; charset=utf-16',
        ),
    },
    { name: 'a body on verify', bytes: (t) => post('/v1/backups/1/verify', t, '{"force":true}') },
    {
      name: 'a body of 1 MiB',
      bytes: (t) => post(restore, t, JSON.stringify({ target_volume_id: 'x'.repeat(1 << 20) })),
    },
    {
      name: 'a body of 20 KiB on back up now',
      bytes: (t) => post(backupNow, t, JSON.stringify({ pad: 'p'.repeat(20 * 1024) })),
    },
    {
      name: 'a chunked body of 256 KiB',
      bytes: (t) =>
        http('POST', restore, {
          token: t,
          headers: [
            ['Content-Type', 'application/json'],
            ['Transfer-Encoding', 'chunked'],
          ],
          body: chunked(Buffer.from(JSON.stringify({ target_volume_id: 'y'.repeat(256 * 1024) }))),
        }),
    },
    {
      name: 'a body shorter than its Content-Length, then the client hangs up',
      halfClose: true,
      bytes: (t) =>
        http('POST', restore, {
          token: t,
          headers: [
            ['Content-Type', 'application/json'],
            ['Content-Length', '20'],
          ],
          body: '{}',
        }),
    },
    // ---- HTTP itself -----------------------------------------------------------------
    {
      name: 'Content-Length not a number',
      bytes: (t) =>
        http('POST', restore, { token: t, headers: [['Content-Length', 'abc']], body: '{}' }),
    },
    {
      name: 'Content-Length negative',
      bytes: (t) =>
        http('POST', restore, { token: t, headers: [['Content-Length', '-1']], body: '{}' }),
    },
    {
      name: 'Content-Length and Transfer-Encoding both',
      bytes: (t) =>
        http('POST', restore, {
          token: t,
          headers: [
            ['Content-Length', '2'],
            ['Transfer-Encoding', 'chunked'],
          ],
          body: '{}',
        }),
    },
    { name: 'an unknown method', bytes: (t) => http('FROB', '/v1/volumes', { token: t }) },
    { name: 'a request line of garbage', bytes: () => Buffer.from('HELLO THERE\r\n\r\n') },
    { name: 'binary instead of HTTP', bytes: () => Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]) },
    {
      name: 'a header with a newline in its value',
      bytes: (t) => http('GET', '/v1/volumes', { token: t, headers: [['X-Foo', 'a\rb']] }),
    },
    {
      name: 'a header of 20 KiB',
      bytes: (t) =>
        http('GET', '/v1/volumes', { token: t, headers: [['X-Pad', 'p'.repeat(20 * 1024)]] }),
    },
    {
      name: 'a URL of 20 KiB',
      bytes: (t) => http('GET', `/v1/volumes?marker=${'u'.repeat(20 * 1024)}`, { token: t }),
    },
  ];
  return list;
}

/**
 * Sends raw bytes and reads the whole answer (the server closes: Connection: close).
 * `writeFirst`: as clients that send the whole request before reading (urllib, requests),
 * write it in 64 KiB pieces 5 ms apart and read nothing until the last one is written.
 */
export function sendRaw(
  port: number,
  bytes: Buffer,
  opts: { halfClose?: boolean; timeoutMs?: number; writeFirst?: boolean } = {},
): Promise<RawAnswer> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (m === null || end < 0) {
        reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = text.slice(end + 4);
      if (headers['transfer-encoding'] === 'chunked') {
        let out = '';
        let rest = body;
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const size = parseInt(rest.slice(0, nl), 16);
          if (!(size > 0)) break;
          out += rest.slice(nl + 2, nl + 2 + size);
          rest = rest.slice(nl + 2 + size + 2);
        }
        body = out;
      }
      resolve({ status: Number(m[1]), headers, body });
    });
    socket.on('connect', () => {
      if (opts.writeFirst === true) {
        socket.pause();
        let offset = 0;
        const next = (): void => {
          if (socket.destroyed) return;
          if (offset >= bytes.length) {
            socket.resume();
            return;
          }
          socket.write(bytes.subarray(offset, offset + 65536));
          offset += 65536;
          setTimeout(next, 5);
        };
        next();
        return;
      }
      socket.write(bytes);
      // Node's server closes on a client's half-close (httpAllowHalfOpen is false), so only
      // the request that stands for a client hanging up sends it.
      if (opts.halfClose === true) socket.end();
    });
  });
}
