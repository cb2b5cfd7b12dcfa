/**
 * Transport and browser-facing hardening: security headers on every response, no-store
 * on the API, CORS closed unless allowlisted, HSTS only over TLS (direct or at a trusted
 * proxy), and the server actually serving TLS from TLS_CERT_FILE/TLS_KEY_FILE.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createTestApp, type TestApp, testConfig } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';

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
