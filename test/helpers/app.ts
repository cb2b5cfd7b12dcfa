/** Builds the real application on a test database, plus keys for each role. */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { DestinationStream } from 'pino';
import { buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config/config.js';
import type { Database } from '../../src/db/database.js';
import type { Role } from '../../src/modules/keys/keys.roles.js';
import { createKey } from '../../src/modules/keys/keys.service.js';
import { createTestDatabase } from './database.js';

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  config: Config;
  /** Admin key for convenience. */
  adminKey: string;
  /** Creates a key with a role and optional patient scope. */
  key(role: Role, patientIds?: number[] | null, expiresAt?: Date | null): Promise<string>;
  /** inject() with the given key as a bearer token. */
  call(key: string | null, opts: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    LOG_LEVEL: 'silent',
    ETL_ON_STARTUP: 'false',
    ANALYTICS_SCHEDULER: 'false',
    // Every injected request comes from 127.0.0.1: tests that probe with bad keys would
    // otherwise trip the failed-authentication limit (its own tests set it low).
    AUTH_FAILURES_PER_IP_PER_MINUTE: '1000000',
    ...env,
  });
}

export async function createTestApp(
  opts: {
    env?: Record<string, string>;
    database?: Database;
    now?: () => Date;
    /** Captures the application's log lines (see test/helpers/security.ts). */
    logStream?: DestinationStream;
  } = {},
): Promise<TestApp> {
  const database = opts.database ?? (await createTestDatabase());
  const config = testConfig(opts.env);
  const app = await buildApp({
    config,
    database,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.logStream ? { logStream: opts.logStream } : {}),
  });
  await app.ready();
  const key = async (role: Role, patientIds: number[] | null = null, expiresAt: Date | null = null) =>
    (await createKey({ db: database.db }, { name: `test ${role}`, role, patientIds, expiresAt })).key;
  const adminKey = await key('admin');
  return {
    app,
    database,
    config,
    adminKey,
    key,
    call(k, o) {
      const headers = { ...(o.headers ?? {}) } as Record<string, string>;
      if (k) headers.authorization = `Bearer ${k}`;
      return app.inject({ ...o, headers });
    },
    async close() {
      await app.close();
      if (!opts.database) await database.close();
    },
  };
}

let counter = 0;
/** A unique email so tests never collide on the shared database. */
export function uniqueEmail(prefix = 'p'): string {
  counter += 1;
  return `${prefix}.${process.pid}.${Date.now().toString(36)}.${counter}@example.org`;
}
