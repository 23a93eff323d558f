/**
 * Which endpoint of a service the credentials ask for (`interface` in clouds.yaml,
 * OS_INTERFACE), in Keystone's names. Pure.
 */
export type EndpointInterface = 'public' | 'internal' | 'admin';

/** Normalises old-style interface names (`publicURL`, `internalURL`). */
export function normalizeInterface(value: string): EndpointInterface | null {
  const v = value.replace(/URL$/, '').toLowerCase();
  return v === 'public' || v === 'internal' || v === 'admin' ? v : null;
}
