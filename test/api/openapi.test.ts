/**
 * The OpenAPI document at /openapi.json is valid OpenAPI 3.1, and the API does what it says:
 * the test walks every operation in it, calls it for real (valid, unauthenticated and
 * missing-object requests), and checks each answer's status is documented for that
 * operation and its body matches the documented schema.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../src/jobs/queue.js';
import { addGoodBackup } from './backup-fixtures.js';
import { useApiTestbed } from './api-testbed.js';

const tb = useApiTestbed();

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
  requestBody?: unknown;
}
type Doc = { paths: Record<string, Record<string, Operation>> };

let raw: Doc;
let doc: Doc;
let ada = '';
const ids: Record<string, string> = {};

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)) && s.includes('T'));

beforeAll(async () => {
  const res = await tb.app.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  raw = res.json<Doc>();
  doc = (await SwaggerParser.dereference(structuredClone(raw) as never)) as unknown as Doc;
  ada = await tb.ada.token();
  const v = await tb.addVolume(tb.projectA, { name: 'walked' });
  const target = await tb.addVolume(tb.projectA, { name: 'walk-target', sizeGb: 4 });
  const backup = await addGoodBackup(tb.db.pool, v.id);
  const job = await enqueueJob(tb.db.pool, {
    kind: 'prune',
    volumeId: v.id,
    backendHost: 'stor1@lvm',
    lvName: v.lvName,
    reason: 'schedule',
  });
  Object.assign(ids, {
    volume: v.id,
    target: target.id,
    backup: String(backup),
    job: String(job?.id),
  });
});

/** The path with its `{id}` filled for an object that exists (or not, `missing`). */
function concrete(path: string, missing: boolean): string {
  const id = path.startsWith('/v1/volumes/')
    ? missing
      ? '00000000-0000-4000-8000-000000000000'
      : ids['volume']
    : path.startsWith('/v1/backups/')
      ? missing
        ? '987654321'
        : ids['backup']
      : missing
        ? '987654321'
        : ids['job'];
  return path.replace('{id}', id ?? '');
}

function bodyFor(path: string): Record<string, unknown> | undefined {
  return path.endsWith('/restore') ? { target_volume_id: ids['target'] } : undefined;
}

function checkAnswer(
  op: Operation,
  where: string,
  res: { statusCode: number; body: string },
): void {
  const documented = op.responses[String(res.statusCode)];
  expect(
    documented,
    `${where} answered ${res.statusCode}, not documented: ${res.body}`,
  ).toBeDefined();
  const schema = documented?.content?.['application/json']?.schema;
  expect(schema, `${where} ${res.statusCode} has no JSON schema`).toBeDefined();
  const validate = ajv.compile(schema ?? {});
  const ok = validate(JSON.parse(res.body) as unknown);
  expect(ok, `${where} ${res.statusCode}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect((raw as unknown as { openapi: string }).openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(raw) as never)).resolves.toBeDefined();
  });

  it('describes every route the API serves', () => {
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(ops.sort()).toEqual(
      [
        'GET /healthz',
        'GET /readyz',
        'GET /v1/volumes',
        'GET /v1/volumes/{id}',
        'GET /v1/volumes/{id}/backups',
        'POST /v1/volumes/{id}/backups',
        'GET /v1/backups/{id}',
        'POST /v1/backups/{id}/verify',
        'POST /v1/backups/{id}/restore',
        'GET /v1/jobs/{id}',
        'DELETE /v1/jobs/{id}',
      ].sort(),
    );
  });

  it('every operation answers as documented: valid, without a token, for a missing object', async () => {
    let calls = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const variants: { name: string; token: boolean; missing: boolean }[] = [
          { name: 'valid', token: true, missing: false },
        ];
        if (path.startsWith('/v1/')) {
          variants.push({ name: 'no token', token: false, missing: false });
          if (path.includes('{id}')) variants.push({ name: 'missing', token: true, missing: true });
        }
        for (const v of variants) {
          const url = concrete(path, v.missing);
          const payload = bodyFor(path);
          const res = await tb.app.inject({
            method: method.toUpperCase() as 'GET',
            url,
            headers: v.token ? { 'x-auth-token': ada } : {},
            ...(payload === undefined ? {} : { payload }),
          });
          const where = `${method.toUpperCase()} ${url} (${v.name})`;
          checkAnswer(op, where, res);
          if (v.name === 'valid') expect(res.statusCode, where).toBeLessThan(300);
          if (v.name === 'no token') expect(res.statusCode, where).toBe(401);
          if (v.name === 'missing') expect(res.statusCode, where).toBe(404);
          calls += 1;
        }
      }
    }
    expect(calls).toBeGreaterThanOrEqual(11 + 9 + 8);
  });
});
