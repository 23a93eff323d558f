/**
 * What Node's HTTP parser refuses before any route runs is answered in the API's error
 * shape with a stable code, over a real socket (inject() never reaches the parser).
 */
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from '../reliability/bad-requests.js';
import { useApiTestbed } from './api-testbed.js';

const tb = useApiTestbed();
let port = 0;

beforeAll(async () => {
  await tb.app.listen({ host: '127.0.0.1', port: 0 });
  port = (tb.app.server.address() as AddressInfo).port;
});

describe('malformed HTTP', () => {
  it('answers a broken request line, header or length with 400 INVALID_ARGUMENT', async () => {
    for (const raw of [
      'HELLO THERE\r\n\r\n',
      'FROB /v1/volumes HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /v1/volumes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: a\u0000b\r\n\r\n',
      'POST /v1/jobs/1 HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /v1/jobs/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
    ]) {
      const a = await sendRaw(port, Buffer.from(raw, 'latin1'));
      expect(a.status, raw).toBe(400);
      expect(a.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(a.body)).toEqual({
        error: {
          code: 'INVALID_ARGUMENT',
          message: expect.stringMatching(/^malformed HTTP request \(HPE_/) as string,
        },
      });
    }
  });

  it('answers headers over 16 KiB with 431 REQUEST_TOO_LARGE', async () => {
    const raw = `GET /v1/volumes HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`;
    const a = await sendRaw(port, Buffer.from(raw));
    expect(a.status).toBe(431);
    expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } });
  });

  it('lets a client that writes its whole body before reading get the 413 of a too large body', async () => {
    // Many clients (urllib, requests) write the whole request before reading. The answer is
    // sent after the headers, before the body is read; closing the connection while the body
    // still arrives made the kernel reset it, and the client lost the answer (seen in CI).
    const token = await tb.alice.token();
    const body = Buffer.from(JSON.stringify({ target_volume_id: 'x'.repeat(1 << 20) }));
    const head =
      `POST /v1/backups/1/restore HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
      `X-Auth-Token: ${token}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`;
    for (let i = 0; i < 3; i++) {
      const a = await sendRaw(port, Buffer.concat([Buffer.from(head), body]), { writeFirst: true });
      expect(a.status).toBe(413);
      expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } });
    }
  });
});
