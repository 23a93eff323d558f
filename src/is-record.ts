/** Whether `v` is a plain JSON object (not null, not an array): the first check of any parsed input. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
