/**
 * oslo.messaging's `transport_url` as Cinder and Nova write it:
 * `rabbit://user:pass@host1:5672,user:pass@host2:5672/vhost?ssl=1`, one entry per node of a
 * RabbitMQ cluster, turned into the `amqp://` URLs amqplib connects to (tried in turn).
 * A plain `amqp://` or `amqps://` URL (AMQP_URL as before) is one node. A node written
 * without credentials takes those of the first node that has them. Pure.
 */
import { z } from 'zod';
import type { TextSchema } from './setting-types.js';

const SCHEMES = new Set(['rabbit', 'amqp', 'amqps']);

/** The amqp(s) URLs of a transport URL, or the reason it is not one. */
export function parseTransportUrl(value: string): { urls: string[] } | { reason: string } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(value.trim());
  if (m === null) {
    return { reason: 'must be rabbit://USER:PASS@HOST:PORT[,USER:PASS@HOST:PORT...]/VHOST' };
  }
  const scheme = (m[1] ?? '').toLowerCase();
  if (!SCHEMES.has(scheme)) {
    return { reason: `must start with rabbit://, amqp:// or amqps:// (not ${scheme}://)` };
  }
  const path = m[3] ?? '';
  const query = new URLSearchParams((m[4] ?? '').replace(/^\?/, ''));
  const ssl = ['1', 'true', 'yes'].includes((query.get('ssl') ?? '').toLowerCase());
  query.delete('ssl');
  const target = scheme === 'amqps' || ssl ? 'amqps' : 'amqp';
  const search = query.toString() === '' ? '' : `?${query.toString()}`;
  const nodes = (m[2] ?? '').split(',').map((n) => n.trim());
  if (nodes.some((n) => n === '')) return { reason: 'names an empty host' };
  const firstCredentials = nodes.find((n) => n.includes('@'))?.replace(/@[^@]*$/, '');
  const urls: string[] = [];
  for (const node of nodes) {
    const at = node.lastIndexOf('@');
    const credentials = at >= 0 ? node.slice(0, at) : firstCredentials;
    const hostPort = at >= 0 ? node.slice(at + 1) : node;
    let parsed: URL;
    try {
      parsed = new URL(`${target}://${hostPort}`);
    } catch {
      return { reason: `host "${hostPort.slice(0, 80)}" is not HOST[:PORT]` };
    }
    if (parsed.hostname === '' || !['', '/'].includes(parsed.pathname) || parsed.search !== '') {
      return { reason: `host "${hostPort.slice(0, 80)}" is not HOST[:PORT]` };
    }
    urls.push(
      `${target}://${credentials === undefined ? '' : `${credentials}@`}${hostPort}${path}${search}`,
    );
  }
  return { urls };
}

/** The setting type of a transport URL. */
export function transportUrl(): TextSchema<string[]> {
  return z.string().transform((s, ctx) => {
    const r = parseTransportUrl(s);
    if ('reason' in r) {
      ctx.addIssue({ code: 'custom', message: r.reason });
      return z.NEVER;
    }
    return r.urls;
  });
}
