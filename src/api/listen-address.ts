/**
 * Listen addresses for messages: `host:port`, brackets around IPv6. Pure. (Parsing is the
 * settings' job: src/config/setting-types.ts listenAddress.)
 */
import type { ListenAddress } from '../config/setting-types.js';

export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
