/**
 * A backend host an agent serves: `node1@lvm` or `node1@lvm=vg-name` (the `host@backend`
 * of Cinder's `os-vol-host-attr:host` without `#pool`, and the volume group of that
 * backend, Cinder's `volume_group`, default `cinder-volumes`). Pure.
 */
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { TextSchema } from './setting-types.js';

export interface ServedHost {
  /** `host@backend` as in os-vol-host-attr:host without `#pool`. */
  host: string;
  /** The LVM volume group of that backend (Cinder's `volume_group`). */
  vg: string;
}

const DEFAULT_VG = 'cinder-volumes';
const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VG = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/;

/** The served host of `text`, or null when it is malformed. */
export function servedHostOf(text: string): ServedHost | null {
  const [host = '', vg = DEFAULT_VG, ...rest] = text.split('=');
  if (rest.length > 0 || !HOST.test(host) || !VG.test(vg) || vg.length > 127) return null;
  return { host, vg };
}

/** `node1@lvm` or `node1@lvm=vg-name`; INVALID_ARGUMENT otherwise. */
export function parseServedHost(text: string): ServedHost {
  const served = servedHostOf(text);
  if (served === null) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `--host must be HOST@BACKEND or HOST@BACKEND=VG (got "${text}")`,
    );
  }
  return served;
}

/** The setting type of one served host. */
export function servedHost(): TextSchema<ServedHost> {
  return z.string().transform((s, ctx) => {
    const served = servedHostOf(s.trim());
    if (served === null) {
      ctx.addIssue({
        code: 'custom',
        message: `"${s.trim().slice(0, 80)}" is not HOST@BACKEND or HOST@BACKEND=VG`,
      });
      return z.NEVER;
    }
    return served;
  });
}
