/** Types shared by route plugins. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { Principal } from '../modules/keys/keys.roles.js';
import type { AppMetrics } from '../modules/metrics/metrics.registry.js';

/** Dependencies every route plugin receives. */
export interface AppDeps {
  config: Config;
  database: Database;
  now: () => Date;
  /** Identifies this process in job runs and logs. */
  instanceId: string;
  log: Logger;
  /** Prometheus metrics of this app (for example `metrics.readingsIngested.inc(n)`). */
  metrics: AppMetrics;
}

export type App = FastifyInstance;
export type TypedApp = ReturnType<FastifyInstance['withTypeProvider']> & {
  // biome-ignore lint/suspicious/noExplicitAny: narrowed by withTypeProvider at call sites
  [k: string]: any;
};

export interface RoutePluginOptions {
  deps: AppDeps;
}

/** The principal of an authenticated route (the auth hook guarantees it is set). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route reached without authentication');
  return request.principal;
}

export type { TypeBoxTypeProvider };
