/**
 * `host:port` listen addresses (`127.0.0.1:8798`, `[::1]:8798`, `0.0.0.0:9464`) parsed into
 * what `listen()` takes. Pure.
 */
import { AppError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

const HOST = /^[A-Za-z0-9.-]{1,253}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** Parses `host:port` (IPv6 in brackets); `setting` names the setting in the error. */
export function parseListenAddress(text: string, setting: string): ListenAddress {
  const t = text.trim();
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(t) ?? /^([^:[\]]+):(\d{1,5})$/.exec(t);
  const host = m?.[1];
  const port = Number(m?.[2]);
  const hostOk = host !== undefined && (t.startsWith('[') ? IPV6.test(host) : HOST.test(host));
  if (!hostOk || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new AppError(
      'CONFIG_INVALID',
      `${setting} must be host:port (e.g. 127.0.0.1:8798, [::1]:8798), not "${t.slice(0, 60)}"`,
    );
  }
  return { host, port };
}

/** The address as `host:port` again, brackets around IPv6. */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
