import { describe, expect, it } from 'vitest';
import { columnList, columnName, fieldsFromRow } from '../../src/db/row-fields.js';

interface Thing {
  id: string;
  projectId: string;
  sizeGb: number;
  cinderUpdatedAt: Date | null;
}

describe('row fields', () => {
  it('names each camelCase field by its snake_case column', () => {
    expect(columnName('id')).toBe('id');
    expect(columnName('projectId')).toBe('project_id');
    expect(columnName('cinderUpdatedAt')).toBe('cinder_updated_at');
    expect(columnList(['id', 'sizeGb'])).toBe('id, size_gb');
  });

  it('copies the listed fields from their columns, in the listed order, and nothing else', () => {
    const at = new Date(0);
    const fields = fieldsFromRow<Thing>()(['sizeGb', 'id', 'cinderUpdatedAt']);
    const row = { id: 'a', size_gb: 3, cinder_updated_at: at, project_id: 'p', extra: 1 };
    const out = fields(row);
    expect(out).toEqual({ sizeGb: 3, id: 'a', cinderUpdatedAt: at });
    expect(Object.keys(out)).toEqual(['sizeGb', 'id', 'cinderUpdatedAt']);
  });
});
