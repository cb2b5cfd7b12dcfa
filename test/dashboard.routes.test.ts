import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_DIR } from '../src/modules/dashboard/dashboard.routes.js';
import { createTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('dashboard static files', () => {
  it('serves the page at / without a key, under a CSP that allows only same-origin scripts', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(res.body).toContain('<script type="module" src="/app.js"></script>');
    // No inline scripts: every <script> has a src.
    expect(res.body.match(/<script(?![^>]*\ssrc=)[^>]*>/g)).toBeNull();
    // No CDN: every referenced asset is same-origin.
    expect(res.body).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
  });

  it('serves every module of public/ as JavaScript, and every import between them resolves', async () => {
    const modules = readdirSync(PUBLIC_DIR).filter((f) => f.endsWith('.js'));
    expect(modules).toContain('app.js');
    for (const file of modules) {
      const res = await t.app.inject({ method: 'GET', url: `/${file}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-type'], file).toMatch(/^(?:application|text)\/javascript/);
      for (const [, spec] of res.body.matchAll(/from '([^']+)'/g)) {
        const url = spec?.startsWith('./') ? `/${spec.slice(2)}` : String(spec);
        expect(url, `${file} imports ${spec}`).toMatch(/^\//);
        expect((await t.app.inject({ method: 'GET', url })).statusCode, `${file} imports ${spec}`).toBe(200);
      }
    }
  });

  it('serves uPlot from the installed package', async () => {
    const js = await t.app.inject({ method: 'GET', url: '/vendor/uplot/uPlot.esm.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.body).toContain('export { uPlot as default }');
    const css = await t.app.inject({ method: 'GET', url: '/vendor/uplot/uPlot.min.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
  });

  it('leaves unknown paths and the API as they were', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/nope.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/);
    expect((await t.app.inject({ method: 'GET', url: '/vendor/uplot/uPlot.d.ts' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('keeps the dashboard out of the API description', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const paths = Object.keys(spec.paths);
    expect(
      paths.filter(
        (p) => !p.startsWith('/api/') && !p.startsWith('/fhir/') && !['/healthz', '/readyz', '/metrics'].includes(p),
      ),
    ).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/patients/summary',
        '/api/v1/patients/{id}/summary',
        '/api/v1/biometrics/series',
        '/api/v1/me',
      ]),
    );
  });
});
