import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { TEST_DB } from './helpers/database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const CHROMIUM = '/usr/bin/chromium';

interface Route {
  path: string;
  methods: string[];
}

/**
 * The routes the application serves, read from Fastify's route tree so that a route
 * added later is checked too. Each tree level is indented by four characters.
 */
function registeredRoutes(): Route[] {
  const routes: Route[] = [];
  const stack: string[] = [];
  for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ├└─]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack[depth - 1] = m[2] ?? '';
    routes.push({ path: stack.join(''), methods: (m[3] ?? '').split(', ') });
  }
  return routes;
}

describe('OpenAPI document', () => {
  it('is public and describes the API', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const spec = res.json();
    expect(spec.openapi).toBe('3.0.3');
    expect(spec.info.title).toBe('PatientPulse API');
    expect(spec.components.securitySchemes).toEqual({
      bearer: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
    expect(spec.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
  });

  it('lists every /api/v1 route with its methods, each needing a key', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const api = registeredRoutes().filter((r) => r.path.startsWith('/api/v1/'));
    // The route tree parse found the core routes (guards the parser itself).
    expect(api.map((r) => r.path)).toEqual(
      expect.arrayContaining([
        '/api/v1/patients',
        '/api/v1/patients/:id',
        '/api/v1/biometrics',
        '/api/v1/biometrics/:id',
        '/api/v1/analytics',
      ]),
    );
    for (const route of api) {
      const openapiPath = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      for (const method of route.methods.filter((m) => m !== 'HEAD')) {
        const op = spec.paths[openapiPath]?.[method.toLowerCase()];
        expect(op, `${method} ${route.path} in /openapi.json`).toBeDefined();
        expect(op.security, `${method} ${route.path} needs a key`).toBeUndefined();
        expect(Object.keys(op.responses), `${method} ${route.path} declares 401`).toContain('401');
      }
    }
  });

  it('lists the FHIR routes under the fhir tag, metadata public and the others with a key', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const fhir = Object.entries(spec.paths as Record<string, Record<string, { tags?: string[] }>>)
      .filter(([path]) => path.startsWith('/fhir/'))
      .map(([path, ops]) => [path, Object.keys(ops), ops.get?.tags]);
    expect(fhir).toEqual([
      ['/fhir/metadata', ['get'], ['fhir']],
      ['/fhir/Patient/{id}', ['get'], ['fhir']],
      ['/fhir/Patient', ['get'], ['fhir']],
      ['/fhir/Observation/{id}', ['get'], ['fhir']],
      ['/fhir/Observation', ['get'], ['fhir']],
    ]);
    expect(spec.paths['/fhir/metadata'].get.security).toEqual([]);
    expect(spec.paths['/fhir/Patient/{id}'].get.security).toBeUndefined();
    expect(Object.keys(spec.paths['/fhir/Observation'].get.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '406']),
    );
  });

  it('marks the probes as public', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(spec.paths['/healthz'].get.security).toEqual([]);
    expect(spec.paths['/readyz'].get.security).toEqual([]);
  });
});

describe('documentation pages', () => {
  it.each(['/docs', '/redoc'])('%s is public HTML that refers only to this server', async (url) => {
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).not.toMatch(/https?:\/\//i);
    const refs = [...res.body.matchAll(/(?:src|href|spec-url)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref).toMatch(/^\//);
      const asset = await t.app.inject({ method: 'GET', url: ref });
      expect(asset.statusCode, ref).toBe(200);
    }
  });

  it('serves the ReDoc bundle from the local package', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(res.body.length).toBeGreaterThan(100_000);
  });

  it('does not ask browsers to upgrade to https or load fonts and styles from elsewhere', async () => {
    for (const url of ['/docs', '/docs/static/swagger-ui-bundle.js', '/redoc']) {
      const csp = String((await t.app.inject({ method: 'GET', url })).headers['content-security-policy']);
      expect(csp, url).not.toContain('upgrade-insecure-requests');
      expect(csp, url).not.toMatch(/https:/);
    }
  });

  // The pages do not depend on the database: one browser run (on the embedded one) is enough.
  it.skipIf(!existsSync(CHROMIUM) || TEST_DB !== 'pglite')(
    'render in a browser with no request leaving the server',
    async () => {
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const foreign: string[] = [];
        await page.route('**/*', (route) => {
          const url = route.request().url();
          if (url.startsWith(address) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
          foreign.push(url);
          return route.abort();
        });
        await page.goto(`${address}/docs`);
        await page.getByText('List patients').first().waitFor({ timeout: 20_000 });
        await page.goto(`${address}/redoc`);
        await page.locator('h2', { hasText: 'List patients' }).first().waitFor({ timeout: 20_000 });
        expect(foreign).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
