/**
 * The `backup:on` metadata value: Cinder volume events after which a backup is also taken
 * (`detach`: the filesystem is quiet once the instance let go of it).
 */

/** Event names a user may list, each the middle part of `volume.<name>.end`. */
export const TRIGGER_EVENTS = [
  'attach',
  'detach',
  'resize',
  'retype',
  'revert',
  'manage_existing',
  'transfer',
  'update',
] as const;

export type TriggerEvent = (typeof TRIGGER_EVENTS)[number];

export type TriggerParse = { ok: true; events: TriggerEvent[] } | { ok: false; reason: string };

/** Whether `name` is one of the events `backup:on` may list. */
export function isTriggerEvent(name: string): name is TriggerEvent {
  return (TRIGGER_EVENTS as readonly string[]).includes(name);
}

/** Parses a comma-separated event list; `extend` is accepted as Cinder's CLI word for resize. */
export function parseTriggerEvents(value: string): TriggerParse {
  if (value.length > 200) return { ok: false, reason: 'backup:on is longer than 200 characters' };
  const events: TriggerEvent[] = [];
  for (const raw of value.split(',')) {
    let name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (name === 'extend') name = 'resize';
    if (!isTriggerEvent(name)) {
      const shown = JSON.stringify(raw.trim().slice(0, 40));
      return {
        ok: false,
        reason: `backup:on event ${shown} is not one of ${TRIGGER_EVENTS.join(', ')}`,
      };
    }
    if (!events.includes(name)) events.push(name);
  }
  return { ok: true, events };
}
