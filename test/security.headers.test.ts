/**
 * Transport and browser-facing hardening: security headers on every response, no-store
 * on the API, CORS closed unless allowlisted, HSTS only over TLS (direct or at a trusted
 * proxy), and the server actually serving TLS from TLS_CERT_FILE/TLS_KEY_FILE.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createTestApp, type TestApp, testConfig } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';
import { newPatient } from './helpers/security.js';

describe('headers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['an API read', '/api/v1/patients', true],
    ['a refused API call', '/api/v1/patients', false],
    ['a health probe', '/healthz', false],
    ['an unknown path', '/nowhere', false],
  ])('%s carries the security headers', async (_label, url, withKey) => {
    const res = await t.call(withKey ? t.adminKey : null, { method: 'GET', url });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(res.headers['strict-transport-security']).toBeUndefined();
    if (url.startsWith('/api/')) expect(res.headers['cache-control']).toBe('no-store');
  });

  it('sends exactly the same hardening headers on every kind of response', async () => {
    const expected = {
      'content-security-policy':
        "default-src 'self';base-uri 'self';font-src 'self' data:;form-action 'self';frame-ancestors 'none';" +
        "img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';" +
        "style-src 'self' 'unsafe-inline';worker-src 'self' blob:;connect-src 'self'",
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'origin-agent-cluster': '?1',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'x-dns-prefetch-control': 'off',
      'x-download-options': 'noopen',
      'x-frame-options': 'SAMEORIGIN',
      'x-permitted-cross-domain-policies': 'none',
      'x-xss-protection': '0',
    };
    const requests: [string | null, InjectOptions][] = [
      [t.adminKey, { method: 'GET', url: '/api/v1/patients' }],
      [t.adminKey, { method: 'GET', url: '/api/v1/biometrics?patient_id=x' }],
      [null, { method: 'POST', url: '/api/v1/biometrics', payload: {} }],
      [null, { method: 'PUT', url: '/healthz' }],
      [null, { method: 'GET', url: '/docs/' }],
      [null, { method: 'GET', url: '/openapi.json' }],
      [null, { method: 'GET', url: '/' }],
    ];
    for (const [key, opts] of requests) {
      const res = await t.call(key, opts);
      const got = Object.fromEntries(Object.keys(expected).map((name) => [name, res.headers[name]]));
      expect(got, `${opts.method} ${opts.url}`).toEqual(expected);
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('keeps CORS closed without an allowlist', async () => {
    const res = await t.call(t.adminKey, {
      method: 'GET',
      url: '/api/v1/patients',
      headers: { origin: 'https://evil.example' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await t.call(null, {
      method: 'OPTIONS',
      url: '/api/v1/patients',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends HSTS only when the client connection is TLS at a trusted proxy', async () => {
    const proxied = await createTestApp({ database: t.database, env: { TRUST_PROXY: '127.0.0.1' } });
    try {
      const https = await proxied.call(null, {
        method: 'GET',
        url: '/healthz',
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(https.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      const http = await proxied.call(null, {
        method: 'GET',
        url: '/healthz',
        headers: { 'x-forwarded-proto': 'http' },
      });
      expect(http.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await proxied.close();
    }
    const forged = await t.call(null, { method: 'GET', url: '/healthz', headers: { 'x-forwarded-proto': 'https' } });
    expect(forged.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('no-store, however the request target is spelled', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('keeps patient data out of caches when the path is percent-encoded', async () => {
    const patient = await newPatient(t);
    const reader = await t.key('reader');
    for (const url of [`/%61pi/v1/patients/${patient.id}`, `/api/v1/%70atients/${patient.id}`]) {
      const res = await t.call(reader, { method: 'GET', url });
      expect({ status: res.statusCode, cache: res.headers['cache-control'], body: res.json() }, url).toEqual({
        status: 200,
        cache: 'no-store',
        body: { ...patient },
      });
    }
  });

  it('keeps a new key secret out of caches when the path is percent-encoded', async () => {
    const res = await t.call(t.adminKey, {
      method: 'POST',
      url: '/%61pi/v1/keys',
      payload: { name: 'encoded path', role: 'reader' },
    });
    expect({ status: res.statusCode, cache: res.headers['cache-control'] }).toEqual({ status: 201, cache: 'no-store' });
    const created = res.json();
    expect(created).toMatchObject({ key: expect.stringMatching(/^pp_/), name: 'encoded path', role: 'reader' });
    // The key was stored and works.
    expect((await t.call(created.key, { method: 'GET', url: '/api/v1/patients' })).statusCode).toBe(200);
  });

  it('keeps patient data out of caches for an absolute-form request target', async () => {
    const patient = await newPatient(t);
    const reader = await t.key('reader');
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    const res = await new Promise<{ status: number; cache: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'GET',
          // Sent as-is on the request line: GET http://127.0.0.1:<port>/api/v1/patients/<id> HTTP/1.1
          path: `http://127.0.0.1:${port}/api/v1/patients/${patient.id}`,
          headers: { authorization: `Bearer ${reader}` },
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, cache: response.headers['cache-control'], body }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect({ status: res.status, cache: res.cache, body: JSON.parse(res.body) }).toEqual({
      status: 200,
      cache: 'no-store',
      body: { ...patient },
    });
  });

  it('still lets public pages and assets be cached', async () => {
    const health = await t.call(null, { method: 'GET', url: '/healthz' });
    expect({ status: health.statusCode, cache: health.headers['cache-control'] }).toEqual({
      status: 200,
      cache: undefined,
    });
    const redoc = await t.call(null, { method: 'GET', url: '/redoc/redoc.standalone.js' });
    expect({ status: redoc.statusCode, cache: redoc.headers['cache-control'] }).toEqual({
      status: 200,
      cache: 'public, max-age=86400',
    });
    const unknown = await t.call(null, { method: 'GET', url: '/%61pi/v1/nowhere' });
    expect({ status: unknown.statusCode, cache: unknown.headers['cache-control'] }).toEqual({
      status: 404,
      cache: 'no-store',
    });
  });
});

describe('CORS allowlist', () => {
  it('answers allowed origins only', async () => {
    const t = await createTestApp({ env: { CORS_ORIGINS: 'https://dashboard.example' } });
    try {
      const ok = await t.call(t.adminKey, {
        method: 'GET',
        url: '/api/v1/patients',
        headers: { origin: 'https://dashboard.example' },
      });
      expect(ok.headers['access-control-allow-origin']).toBe('https://dashboard.example');
      const other = await t.call(t.adminKey, {
        method: 'GET',
        url: '/api/v1/patients',
        headers: { origin: 'https://evil.example' },
      });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});

describe('TLS in the server', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pp-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS from TLS_CERT_FILE/TLS_KEY_FILE and sends HSTS', async () => {
    const database = await createTestDatabase();
    const app = await buildApp({
      config: testConfig({ TLS_CERT_FILE: path.join(dir, 'cert.pem'), TLS_KEY_FILE: path.join(dir, 'key.pem') }),
      database,
    });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const res = await new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res.status).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    } finally {
      await app.close();
      await database.close();
    }
  });
});
