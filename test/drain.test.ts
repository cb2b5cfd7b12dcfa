/**
 * The drain on close, in process: a listening app with a request held open, closed the
 * way the server's stop() closes it.
 */
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import type { Database } from '../src/db/database.js';
import { RequestTracker } from '../src/http/plugins/drain.js';
import { buildServerOptions } from '../src/http/server-options.js';
import type { Readiness } from '../src/modules/health/health.routes.js';
import { testConfig } from './helpers/app.js';
import { createTestDatabase } from './helpers/database.js';
import { rawRequest } from './helpers/e2e.js';
import { waitFor } from './helpers/traffic.js';

let app: FastifyInstance | undefined;
let database: Database | undefined;
afterEach(async () => {
  await app?.close();
  await database?.close();
  app = undefined;
  database = undefined;
});

/** A listening app with GET /held, which answers when `release()` is called. */
async function listeningApp(shutdownTimeoutMs: number) {
  database = await createTestDatabase();
  const readiness: Readiness = { started: true, draining: false };
  app = await buildApp({ config: testConfig({ SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) }), database, readiness });
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived = 0;
  app.get('/held', async () => {
    arrived++;
    await held;
    return { done: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, readiness, release, arrived: () => arrived };
}

describe('drain on close', () => {
  it('lets the in-flight request finish, answers 503 on open connections, refuses new ones', async () => {
    const a = await listeningApp(10_000);
    const current = app as FastifyInstance;
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await rawRequest(`${a.url}/healthz`, { agent: keepAlive })).toMatchObject({ status: 200 });
    const inFlight = rawRequest(`${a.url}/held`, { agent: false });
    await waitFor(() => a.arrived() === 1, 10_000, 'the held request');

    const closed = current.close();
    await waitFor(() => !current.server.listening, 10_000, 'the listener to close');
    expect(a.readiness.draining).toBe(true);

    const ready = await rawRequest(`${a.url}/readyz`, { agent: keepAlive });
    expect(ready).toMatchObject({ status: 503, headers: expect.objectContaining({ connection: 'close' }) });
    if (!('body' in ready)) throw new Error('unreachable');
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'not ready', checks: { shutdown: 'draining' } });

    expect(await rawRequest(`${a.url}/api/v1/patients`, { agent: false })).toEqual({ error: 'ECONNREFUSED' });

    a.release();
    const finished = await inFlight;
    expect(finished).toMatchObject({ status: 200, headers: expect.objectContaining({ connection: 'close' }) });
    if (!('body' in finished)) throw new Error('unreachable');
    expect(JSON.parse(finished.body)).toEqual({ done: true });
    await closed;
    keepAlive.destroy();
  });

  it('answers requests on open connections with a 503 problem carrying the request id', async () => {
    const a = await listeningApp(10_000);
    const current = app as FastifyInstance;
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await rawRequest(`${a.url}/healthz`, { agent: keepAlive })).toMatchObject({ status: 200 });
    const inFlight = rawRequest(`${a.url}/held`, { agent: false });
    await waitFor(() => a.arrived() === 1, 10_000, 'the held request');
    const closed = current.close();
    await waitFor(() => !current.server.listening, 10_000, 'the listener to close');

    const res = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        const req = http.request(
          `${a.url}/api/v1/patients`,
          { agent: keepAlive, headers: { 'x-request-id': 'drain-1' } },
          (r) => {
            let body = '';
            r.setEncoding('utf8');
            r.on('data', (c: string) => {
              body += c;
            });
            r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['x-request-id']).toBe('drain-1');
    expect(JSON.parse(res.body)).toEqual({
      type: 'https://patientpulse.dev/problems/shutting-down',
      title: 'Service Unavailable',
      status: 503,
      detail: 'This instance is shutting down; retry shortly',
      code: 'shutting_down',
      instance: '/api/v1/patients',
      request_id: 'drain-1',
    });

    a.release();
    await inFlight;
    await closed;
    keepAlive.destroy();
  });

  it('closes connections still busy when SHUTDOWN_TIMEOUT_MS runs out', async () => {
    const a = await listeningApp(300);
    const inFlight = rawRequest(`${a.url}/held`, { agent: false });
    await waitFor(() => a.arrived() === 1, 10_000, 'the held request');
    await (app as FastifyInstance).close();
    expect(await inFlight).toEqual({ error: 'ECONNRESET' });
    a.release();
  });
});

describe('close bounds', () => {
  it('gives close hooks longer than the drain, so avvio never reports a drain as a plugin start-up timeout', () => {
    expect(buildServerOptions(testConfig()).pluginTimeout).toBe(20_000);
    expect(buildServerOptions(testConfig({ SHUTDOWN_TIMEOUT_MS: '0' })).pluginTimeout).toBe(10_000);
    expect(buildServerOptions(testConfig({ SHUTDOWN_TIMEOUT_MS: '60000' })).pluginTimeout).toBe(70_000);
  });

  it('tracks a request until its last onSend hook, even when its connection was closed', async () => {
    const requests = new RequestTracker();
    database = await createTestDatabase();
    app = await buildApp({ config: testConfig(), database, requests });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    app.get('/slow-for-test', async () => {
      await gate;
      return { ok: true };
    });
    await app.ready();
    try {
      const pending = app.inject({ method: 'GET', url: '/slow-for-test' });
      await new Promise((r) => setTimeout(r, 50));
      expect(requests.size).toBe(1);
      const unfinished = await requests.settle(30);
      expect(unfinished).toEqual([
        { reqId: expect.any(String), method: 'GET', route: '/slow-for-test', runningMs: expect.any(Number) },
      ]);
      release();
      expect((await pending).statusCode).toBe(200);
      expect(await requests.settle(1_000)).toEqual([]);
      expect(requests.size).toBe(0);
    } finally {
      release();
    }
  });
});
