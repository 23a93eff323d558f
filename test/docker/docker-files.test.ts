/**
 * docker/ cannot be built here (no Docker engine), so this reads it: the stages the
 * compose file builds exist, the controller image runs as a non-root user with a health
 * check on /healthz at the port its API listens on, the base is a current Node LTS, and
 * the compose services wait for what they need.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const DOCKER = join(import.meta.dirname, '..', '..', 'docker');

/** The Dockerfile's instructions per stage (continuation lines joined). */
async function stages(): Promise<Map<string, string[]>> {
  const text = (await readFile(join(DOCKER, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
  const out = new Map<string, string[]>();
  let current = '(preamble)';
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const from = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line);
    if (from !== null) current = from[1] ?? '';
    out.set(current, [...(out.get(current) ?? []), line.trim()]);
  }
  return out;
}

describe('docker/Dockerfile', () => {
  it('builds in stages from a current Node LTS on Debian 12', async () => {
    const s = await stages();
    expect([...s.keys()]).toEqual(['(preamble)', 'build', 'runtime', 'controller', 'agent']);
    const base = s.get('(preamble)')?.find((l) => l.startsWith('ARG NODE_IMAGE='));
    expect(base).toMatch(/^ARG NODE_IMAGE=node:(22|24)-bookworm-slim$/);
    // The images copy the build's output, never the sources or the dev dependencies.
    const runtime = s.get('runtime') ?? [];
    expect(runtime.filter((l) => l.startsWith('COPY'))).toEqual([
      'COPY --from=build /src/package.json ./',
      'COPY --from=build /src/node_modules ./node_modules',
      'COPY --from=build /src/dist ./dist',
    ]);
    expect(s.get('build')?.join('\n')).toContain('npm prune --omit=dev');
  });

  it('runs the controller as a non-root user, health-checked on /healthz where the API listens', async () => {
    const c = (await stages()).get('controller') ?? [];
    const user = c.filter((l) => l.startsWith('USER '));
    expect(user).toEqual(['USER cinder-lvm-backup']);
    const listen = c.find((l) => l.startsWith('ENV ')) ?? '';
    const port = /CLB_API_LISTEN=0\.0\.0\.0:(\d+)/.exec(listen)?.[1];
    expect(port).toBeDefined();
    const health = c.find((l) => l.startsWith('HEALTHCHECK')) ?? '';
    expect(health).toContain(`http://127.0.0.1:${port}/healthz`);
    // The USER line comes before the health check and the command that run as it.
    expect(c.indexOf(user[0] ?? '')).toBeLessThan(c.indexOf(health));
    expect(c.at(-1)).toBe('CMD ["controller"]');
  });
});

describe('docker/compose.yaml', () => {
  it('builds the controller, migrates first, and waits for healthy services', async () => {
    const compose = parse(await readFile(join(DOCKER, 'compose.yaml'), 'utf8')) as {
      services: Record<
        string,
        {
          build?: { context: string; dockerfile: string; target: string };
          command?: string[];
          healthcheck?: unknown;
          environment?: Record<string, string>;
          depends_on?: Record<string, { condition: string }>;
        }
      >;
    };
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(['controller', 'migrate', 'postgres', 'rabbitmq']);
    const targets = [...(await stages()).keys()];
    for (const name of ['controller', 'migrate']) {
      expect(s[name]?.build).toEqual({
        context: '..',
        dockerfile: 'docker/Dockerfile',
        target: 'controller',
      });
      expect(targets).toContain(s[name]?.build?.target);
      // The database URL names the compose service and its user and database.
      expect(s[name]?.environment?.['DATABASE_URL']).toBe(
        'postgres://clb:clb-dev@postgres:5432/cinder_lvm_backup',
      );
    }
    expect(s['migrate']?.command).toEqual(['migrate']);
    expect(s['controller']?.depends_on).toEqual({
      migrate: { condition: 'service_completed_successfully' },
      rabbitmq: { condition: 'service_healthy' },
    });
    expect(s['migrate']?.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(s['postgres']?.healthcheck).toBeDefined();
    expect(s['rabbitmq']?.healthcheck).toBeDefined();
  });
});
