/**
 * A real SMTP server on loopback (npm smtp-server) that keeps every message it accepts,
 * raw, with a small MIME reader for the tests: headers, and the text and HTML parts.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** Header name (lower case) → unfolded value, first occurrence. */
  headers: Map<string, string>;
  /** Header names as written, to check their spelling ("To:", not "To :"). */
  headerLines: string[];
  text: string;
  html: string;
}

export interface SmtpSink {
  port: number;
  mails: ReceivedMail[];
  /** For each accepted mail: whether its session ran over TLS. */
  secure: boolean[];
  /** Authenticated users seen (username, password as received). */
  logins: { user: string; pass: string }[];
  close(): Promise<void>;
}

function splitHead(raw: string): { head: string; body: string } {
  const i = raw.indexOf('\r\n\r\n');
  return i < 0 ? { head: raw, body: '' } : { head: raw.slice(0, i), body: raw.slice(i + 4) };
}

function parseHeaders(head: string): { map: Map<string, string>; lines: string[] } {
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  const map = new Map<string, string>();
  for (const line of unfolded) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).toLowerCase();
    if (!map.has(name)) map.set(name, line.slice(i + 1).trim());
  }
  return { map, lines: unfolded };
}

function decodeBody(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? '7bit').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const bytes = body
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

function collectParts(raw: string, out: { text: string; html: string }): void {
  const { head, body } = splitHead(raw);
  const { map } = parseHeaders(head);
  const type = map.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (type.toLowerCase().startsWith('multipart/') && boundary !== undefined) {
    const pieces = body.split(`--${boundary}`);
    for (const piece of pieces.slice(1)) {
      if (piece.startsWith('--')) break;
      collectParts(piece.replace(/^\r\n/, ''), out);
    }
    return;
  }
  // SMTP carries CRLF; the tests read lines as the renderer wrote them.
  const decoded = decodeBody(body, map.get('content-transfer-encoding')).replace(/\r\n/g, '\n');
  if (type.toLowerCase().startsWith('text/html')) out.html += decoded;
  else if (type.toLowerCase().startsWith('text/plain')) out.text += decoded;
}

export function parseMail(raw: string, from: string, to: string[]): ReceivedMail {
  const { head } = splitHead(raw);
  const { map, lines } = parseHeaders(head);
  const parts = { text: '', html: '' };
  collectParts(raw, parts);
  return { from, to, raw, headers: map, headerLines: lines, text: parts.text, html: parts.html };
}

export interface SinkOptions {
  /** `port` 0: a random one. */
  port?: number;
  /** A key and certificate: STARTTLS offered (or TLS from the first byte with `implicitTls`).
   * Without: plain SMTP only, STARTTLS not offered. */
  tls?: { key: string; cert: string };
  implicitTls?: boolean;
}

/** Starts a server on 127.0.0.1 with AUTH allowed (over plain SMTP too, so a test sees what a
 * client would send there). */
export async function startSmtpSink(o: SinkOptions = {}): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const secure: boolean[] = [];
  const logins: { user: string; pass: string }[] = [];
  const server = new SMTPServer({
    ...(o.tls === undefined
      ? { disabledCommands: ['STARTTLS'] }
      : { key: o.tls.key, cert: o.tls.cert, secure: o.implicitTls === true }),
    allowInsecureAuth: true,
    authOptional: true,
    logger: false,
    onAuth(auth, _session, cb) {
      logins.push({ user: auth.username ?? '', pass: auth.password ?? '' });
      if (auth.password === 'wrong') cb(new Error('Invalid username or password'));
      else cb(null, { user: auth.username });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
        secure.push(session.secure);
        mails.push(
          parseMail(
            raw,
            from,
            session.envelope.rcptTo.map((r) => r.address),
          ),
        );
        cb();
      });
    },
  });
  server.listen(o.port ?? 0, '127.0.0.1');
  await once(server.server, 'listening');
  const actual = (server.server.address() as AddressInfo).port;
  return {
    port: actual,
    mails,
    secure,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A self-signed certificate for 127.0.0.1 made by openssl in `dir` (its own CA). */
export async function selfSignedCertificate(
  dir: string,
): Promise<{ key: string; cert: string; certFile: string }> {
  const keyFile = join(dir, 'smtp.key');
  const certFile = join(dir, 'smtp.crt');
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return {
    key: await readFile(keyFile, 'utf8'),
    cert: await readFile(certFile, 'utf8'),
    certFile,
  };
}
