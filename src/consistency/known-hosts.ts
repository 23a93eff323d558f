/**
 * The service's known_hosts file: parsing `ssh-keyscan` output, SHA256 fingerprints as
 * `ssh-keygen -l` prints them, and replacing a host's lines. Pure.
 */
import { createHash } from 'node:crypto';

export interface HostKey {
  /** The known_hosts name: `host` or `[host]:port`. */
  name: string;
  type: string;
  /** Base64 public key blob. */
  key: string;
  /** `SHA256:<base64 without padding>`. */
  fingerprint: string;
}

const KEY_TYPE =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The fingerprint of a base64 key blob, as OpenSSH shows it. */
export function fingerprintOf(keyBase64: string): string {
  const digest = createHash('sha256').update(Buffer.from(keyBase64, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** Normalizes a fingerprint the operator typed (`SHA256:...`, padding optional). */
export function normalizeFingerprint(text: string): string | null {
  const m = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(text.trim());
  return m ? `SHA256:${m[1]}` : null;
}

/** Key lines of `ssh-keyscan` output (comments and other hosts' lines ignored). */
export function parseKeyscan(output: string, name: string): HostKey[] {
  const keys: HostKey[] = [];
  for (const line of output.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 3 || line.startsWith('#')) continue;
    const [host = '', type = '', key = ''] = parts;
    if (host !== name || !KEY_TYPE.test(type) || !BASE64.test(key)) continue;
    keys.push({ name, type, key, fingerprint: fingerprintOf(key) });
  }
  return keys;
}

/** known_hosts text with every line for `name` replaced by `keys` (others kept as they are). */
export function replaceHostKeys(text: string, name: string, keys: readonly HostKey[]): string {
  const kept = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      if (line.startsWith('#')) return true;
      const names = (line.trim().split(/\s+/)[0] ?? '').split(',');
      return !names.includes(name);
    });
  return [...kept, ...keys.map((k) => `${k.name} ${k.type} ${k.key}`)].join('\n') + '\n';
}
