/**
 * The one place that reads the environment. Every value is parsed and validated here;
 * a bad value stops the process with a message naming the variable.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Cron } from 'croner';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Validated runtime configuration. */
export interface Config {
  databaseUrl: string | undefined;
  dataDir: string;
  port: number;
  host: string;
  analyticsVersion: 1 | 2;
  analyticsCronSchedule: string;
  /** Run the scheduler inside this process. */
  analyticsSchedulerEnabled: boolean;
  adminApiKey: string | undefined;
  logLevel: LogLevel;
  /** Human-readable logs; defaults to on when stdout is a terminal. */
  logPretty: boolean;
  etlOnStartup: boolean;
  etlPatientsFile: string;
  etlReadingsFile: string;
  /** Shift sample timestamps so the newest reading is recent (only for the bundled sample). */
  etlShiftToNow: boolean;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  dbConnectTimeoutMs: number;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  bodyLimitBytes: number;
  bulkBodyLimitBytes: number;
  bulkMaxItems: number;
  /**
   * Bulk requests processed at once; the others wait in arrival order. 0 (the default) = no
   * limit: a bound on memory for operators who need one, at the cost of burst throughput.
   */
  bulkConcurrency: number;
  rateLimitPerKeyPerMinute: number;
  rateLimitPerIpPerMinute: number;
  authFailuresPerIpPerMinute: number;
  /**
   * Which proxies to trust for X-Forwarded-For: false (none), true (any), or a
   * comma-separated list of proxy addresses/CIDRs (Fastify's `trustProxy`).
   */
  trustProxy: boolean | string;
  /** How long a verified API key is cached in memory; 0 disables the cache. */
  keyCacheTtlMs: number;
  corsOrigins: string[];
  metricsPublic: boolean;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
}

/** Raised when an environment variable is missing or malformed. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const SAMPLE_PATIENTS_FILE = 'data/patients.json';
export const SAMPLE_READINGS_FILE = 'data/readings.csv';

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function bool(env: Env, name: string, def: boolean): boolean {
  const v = str(env, name)?.toLowerCase();
  if (v === undefined) return def;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(name, `must be true, false, 1 or 0 (got "${v}")`);
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new ConfigError(name, `must be a whole number (got "${v}")`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max} (got ${n})`);
  return n;
}

function trustProxySetting(env: Env, name: string): boolean | string {
  const v = str(env, name);
  if (v === undefined) return false;
  const lower = v.toLowerCase();
  if (lower === 'false' || lower === '0') return false;
  if (lower === 'true' || lower === '1') return true;
  const parts = v.split(',').map((s) => s.trim());
  const named = ['loopback', 'linklocal', 'uniquelocal'];
  if (parts.every((p) => named.includes(p) || isAddressOrCidr(p))) return parts.join(',');
  throw new ConfigError(name, `must be true, false or a list of proxy addresses/CIDRs (got "${v}")`);
}

/** An IPv4 or IPv6 address, optionally with a prefix length that fits it (/0../32, /0../128). */
function isAddressOrCidr(value: string): boolean {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(value);
  const family = m?.[1] ? net.isIP(m[1]) : 0;
  if (!m || family === 0) return false;
  return m[2] === undefined || Number(m[2]) <= (family === 4 ? 32 : 128);
}

/** A literal IP address or a DNS host name (letters, digits and hyphens in dot-separated labels). */
function isHost(value: string): boolean {
  if (net.isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  return (
    name.length > 0 &&
    name.length <= 253 &&
    name.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label))
  );
}

/**
 * Checks what can be checked of DATABASE_URL without connecting: the scheme, that it
 * parses as a URL, and that it names a server (in the authority, or as `?host=` for a
 * Unix socket directory).
 */
function databaseUrlSetting(env: Env, name: string): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//.test(v)) throw new ConfigError(name, 'must start with postgres:// or postgresql://');
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    // Never echoed: the URL may hold a password.
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (url.hostname === '' && !url.searchParams.get('host')) {
    throw new ConfigError(name, 'names no database host (postgres://user:password@host:port/database)');
  }
  return v;
}

/**
 * An explicitly set startup-load file must exist when the startup load is on; unset, the
 * bundled sample is used (and a missing sample only skips the load).
 */
function etlFileSetting(env: Env, name: string, sample: string, checked: boolean): string | undefined {
  const v = str(env, name);
  // The sample's own path is resolved against the project root at start-up, not here.
  if (v !== undefined && v !== sample && checked && !existsSync(path.resolve(v))) {
    throw new ConfigError(name, `points at a missing file: ${v}`);
  }
  return v;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], def: T): T {
  const v = str(env, name)?.toLowerCase();
  if (v === undefined) return def;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got "${v}")`);
  }
  return v as T;
}

/** Least estimated entropy of ADMIN_API_KEY, in bits ({@link estimatedEntropyBits}). */
export const MIN_ADMIN_KEY_BITS = 96;

/**
 * Estimated entropy of a secret in bits: the Shannon entropy of its character frequencies
 * times its length. It catches repeated and few-symbol values (32 x "a" is 0 bits); random
 * output passes with a wide margin (64 hex digits of `openssl rand -hex 32` score about
 * 240), but an orderly value of many different characters is not recognised as weak.
 */
export function estimatedEntropyBits(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * value.length;
}

/**
 * Reads and validates configuration from an environment map (process.env by default).
 * Pure apart from the optional `.env` load done by {@link loadDotEnv}.
 */
export function loadConfig(env: Env = process.env, opts: { isTty?: boolean } = {}): Config {
  const databaseUrl = databaseUrlSetting(env, 'DATABASE_URL');
  const adminApiKey = str(env, 'ADMIN_API_KEY');
  if (adminApiKey !== undefined && adminApiKey.length < 32) {
    throw new ConfigError('ADMIN_API_KEY', 'must be at least 32 characters long');
  }
  // Keys are presented in a header (`Bearer <key>`, at most 256 characters accepted):
  // a longer key or one with spaces could be installed but never used.
  if (adminApiKey !== undefined && adminApiKey.length > 256) {
    throw new ConfigError('ADMIN_API_KEY', 'must be at most 256 characters long');
  }
  if (adminApiKey !== undefined && !/^[\x21-\x7e]+$/.test(adminApiKey)) {
    throw new ConfigError('ADMIN_API_KEY', 'must be printable ASCII without spaces');
  }
  // Guessing is only slowed per address, so the one key an operator types in must be random.
  if (adminApiKey !== undefined && estimatedEntropyBits(adminApiKey) < MIN_ADMIN_KEY_BITS) {
    throw new ConfigError(
      'ADMIN_API_KEY',
      `is too easy to guess (too few different characters for its length; at least ${MIN_ADMIN_KEY_BITS} bits ` +
        'estimated are needed); use a random value, for example the output of `openssl rand -hex 32`',
    );
  }
  const version = str(env, 'ANALYTICS_VERSION') ?? '1';
  if (version !== '1' && version !== '2')
    throw new ConfigError('ANALYTICS_VERSION', `must be 1 or 2 (got "${version}")`);
  const cron = str(env, 'ANALYTICS_CRON_SCHEDULE') ?? '0 * * * *';
  try {
    new Cron(cron, { paused: true }).stop();
  } catch (err) {
    throw new ConfigError('ANALYTICS_CRON_SCHEDULE', `is not a valid cron expression: ${(err as Error).message}`);
  }
  const tlsCertFile = str(env, 'TLS_CERT_FILE');
  const tlsKeyFile = str(env, 'TLS_KEY_FILE');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ConfigError(tlsCertFile ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', 'must be set together with its pair');
  }
  for (const [name, file] of [
    ['TLS_CERT_FILE', tlsCertFile],
    ['TLS_KEY_FILE', tlsKeyFile],
  ] as const) {
    if (file !== undefined && !existsSync(file)) throw new ConfigError(name, `points at a missing file: ${file}`);
  }
  const etlOnStartup = bool(env, 'ETL_ON_STARTUP', true);
  const patientsFile = etlFileSetting(env, 'ETL_PATIENTS_FILE', SAMPLE_PATIENTS_FILE, etlOnStartup);
  const readingsFile = etlFileSetting(env, 'ETL_READINGS_FILE', SAMPLE_READINGS_FILE, etlOnStartup);
  const host = str(env, 'HOST') ?? '0.0.0.0';
  if (!isHost(host)) throw new ConfigError('HOST', `must be an IP address or a host name (got "${host}")`);
  const corsOrigins = (str(env, 'CORS_ORIGINS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const o of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new ConfigError('CORS_ORIGINS', `has an invalid origin "${o}"`);
  }

  return {
    databaseUrl,
    dataDir: path.resolve(str(env, 'DATA_DIR') ?? '.data'),
    port: int(env, 'PORT', 8000, 0, 65535),
    host,
    analyticsVersion: version === '2' ? 2 : 1,
    analyticsCronSchedule: cron,
    analyticsSchedulerEnabled: bool(env, 'ANALYTICS_SCHEDULER', true),
    adminApiKey,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    logPretty: bool(env, 'LOG_PRETTY', opts.isTty ?? false),
    etlOnStartup,
    etlPatientsFile: patientsFile ?? SAMPLE_PATIENTS_FILE,
    etlReadingsFile: readingsFile ?? SAMPLE_READINGS_FILE,
    etlShiftToNow: bool(env, 'ETL_SHIFT_TO_NOW', patientsFile === undefined && readingsFile === undefined),
    dbPoolMax: int(env, 'DB_POOL_MAX', 10, 2, 1000),
    dbStatementTimeoutMs: int(env, 'DB_STATEMENT_TIMEOUT_MS', 15_000, 0, 3_600_000),
    dbConnectTimeoutMs: int(env, 'DB_CONNECT_TIMEOUT_MS', 3_000, 100, 600_000),
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 30_000, 1_000, 3_600_000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1_048_576, 1_024, 1_073_741_824),
    bulkBodyLimitBytes: int(env, 'BULK_BODY_LIMIT_BYTES', 16_777_216, 1_024, 1_073_741_824),
    bulkMaxItems: int(env, 'BULK_MAX_ITEMS', 50_000, 1, 10_000_000),
    // No limit by default: taking turns measured slower for bursts (docs/DESIGN.md, "Loading").
    bulkConcurrency: int(env, 'BULK_CONCURRENCY', 0, 0, 10_000),
    rateLimitPerKeyPerMinute: int(env, 'RATE_LIMIT_PER_KEY_PER_MINUTE', 60_000, 1, 100_000_000),
    rateLimitPerIpPerMinute: int(env, 'RATE_LIMIT_PER_IP_PER_MINUTE', 120_000, 1, 100_000_000),
    authFailuresPerIpPerMinute: int(env, 'AUTH_FAILURES_PER_IP_PER_MINUTE', 20, 1, 1_000_000),
    trustProxy: trustProxySetting(env, 'TRUST_PROXY'),
    keyCacheTtlMs: int(env, 'KEY_CACHE_TTL_MS', 5_000, 0, 300_000),
    corsOrigins,
    metricsPublic: bool(env, 'METRICS_PUBLIC', false),
    tlsCertFile,
    tlsKeyFile,
  };
}

/** Loads `./.env` into process.env when present (variables already set win). */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}
