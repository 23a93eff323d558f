/**
 * Rows to domain types and back by name: a camelCase field `projectId` is the snake_case
 * column `project_id`. Statements list their columns once and map them with these instead
 * of a hand-written row interface and a field-by-field copy per statement. Pure.
 */

/** `projectId` → `project_id`, as a type. */
export type ColumnName<F extends string> = F extends `${infer C}${infer Rest}`
  ? `${C extends Lowercase<C> ? C : `_${Lowercase<C>}`}${ColumnName<Rest>}`
  : F;

/** A domain type's row as Postgres returns it: the same values under snake_case names. */
export type RowOf<T> = { [F in keyof T & string as ColumnName<F>]: T[F] };

/** `projectId` → `project_id`. */
export function columnName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The columns of `fields`, comma-separated, for a select or insert list. */
export function columnList(fields: readonly string[]): string {
  return fields.map(columnName).join(', ');
}

/**
 * A mapper that copies `fields` (in their order) out of a row, each from its column:
 * `fieldsFromRow<Volume>()(['id', 'projectId'])(row)` is `{ id: row.id, projectId:
 * row.project_id }`. Curried so that `T` is given and the field names are inferred.
 */
export function fieldsFromRow<T>() {
  return <const F extends readonly (keyof T & string)[]>(fields: F) => {
    const pairs = fields.map((f) => [f, columnName(f)] as const);
    return (row: RowOf<Pick<T, F[number]>>): Pick<T, F[number]> => {
      const source = row as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [field, column] of pairs) out[field] = source[column];
      return out as Pick<T, F[number]>;
    };
  };
}
