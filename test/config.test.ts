import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, estimatedEntropyBits, loadConfig, loadDotEnv } from '../src/config/config.js';
import { generateKey } from '../src/modules/keys/keys.service.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'pp-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Expects loadConfig(env) to fail with a ConfigError naming `variable`. */
function rejects(env: Record<string, string>, variable: string, message: string): void {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as ConfigError).variable).toBe(variable);
  expect((caught as ConfigError).message).toBe(`Invalid configuration: ${variable} ${message}`);
}

describe('defaults', () => {
  it('runs with an empty environment', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: undefined,
      dataDir: path.resolve('.data'),
      port: 8000,
      host: '0.0.0.0',
      analyticsVersion: 1,
      analyticsCronSchedule: '0 * * * *',
      analyticsSchedulerEnabled: true,
      adminApiKey: undefined,
      logLevel: 'info',
      logPretty: false,
      etlOnStartup: true,
      etlPatientsFile: 'data/patients.json',
      etlReadingsFile: 'data/readings.csv',
      etlShiftToNow: true,
      dbPoolMax: 10,
      dbStatementTimeoutMs: 15_000,
      dbConnectTimeoutMs: 3_000,
      requestTimeoutMs: 30_000,
      shutdownTimeoutMs: 10_000,
      bodyLimitBytes: 1_048_576,
      bulkBodyLimitBytes: 16_777_216,
      bulkMaxItems: 50_000,
      bulkConcurrency: 0,
      rateLimitPerKeyPerMinute: 60_000,
      rateLimitPerIpPerMinute: 120_000,
      authFailuresPerIpPerMinute: 20,
      trustProxy: false,
      keyCacheTtlMs: 5_000,
      corsOrigins: [],
      metricsPublic: false,
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
    });
  });

  it('treats empty and blank values as unset', () => {
    const c = loadConfig({ PORT: '', DATABASE_URL: '   ', ADMIN_API_KEY: '', LOG_LEVEL: ' ', ETL_ON_STARTUP: '' });
    expect(c.port).toBe(8000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.adminApiKey).toBeUndefined();
    expect(c.logLevel).toBe('info');
    expect(c.etlOnStartup).toBe(true);
  });

  it('pretty logs default to on for a terminal only', () => {
    expect(loadConfig({}, { isTty: true }).logPretty).toBe(true);
    expect(loadConfig({}, { isTty: false }).logPretty).toBe(false);
    expect(loadConfig({ LOG_PRETTY: 'false' }, { isTty: true }).logPretty).toBe(false);
    expect(loadConfig({ LOG_PRETTY: '1' }, { isTty: false }).logPretty).toBe(true);
  });
});

describe('DATABASE_URL', () => {
  it.each(['postgres://u:p@db:5432/pp', 'postgresql://db/pp', 'postgres://%2Fvar%2Frun%2Fpostgresql/pp'])(
    'accepts %s',
    (url) => {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    },
  );

  it.each(['mysql://db/pp', 'db:5432', 'http://db/pp'])('rejects %s without echoing it', (url) => {
    rejects({ DATABASE_URL: url }, 'DATABASE_URL', 'must start with postgres:// or postgresql://');
  });
});

describe('DATA_DIR, HOST', () => {
  it('resolves DATA_DIR to an absolute path', () => {
    expect(loadConfig({ DATA_DIR: 'var/pp' }).dataDir).toBe(path.resolve('var/pp'));
    expect(loadConfig({ DATA_DIR: '/srv/pp' }).dataDir).toBe('/srv/pp');
  });

  it('takes HOST as given', () => {
    expect(loadConfig({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '::' }).host).toBe('::');
    expect(loadConfig({ HOST: 'localhost' }).host).toBe('localhost');
    expect(loadConfig({ HOST: 'api-1.internal.example.org' }).host).toBe('api-1.internal.example.org');
  });

  it.each(['not..a..host', 'host name', '-lead.example.org', 'under_score', 'http://x', '1.2.3.4:80', '.'])(
    'rejects HOST %s',
    (host) => {
      rejects({ HOST: host }, 'HOST', `must be an IP address or a host name (got "${host}")`);
    },
  );
});

describe('DATABASE_URL host', () => {
  it('accepts server URLs and a Unix socket directory given as ?host=', () => {
    for (const url of [
      'postgres://pp:secret@db:5432/pp',
      'postgresql://db/pp',
      'postgres://pp@127.0.0.1/pp?sslmode=require',
      'postgres:///pp?host=/var/run/postgresql',
    ]) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
  });

  it('rejects unparsable URLs and URLs without a host, without echoing them', () => {
    for (const url of ['postgres://', 'postgres:///pp', 'postgres:///pp?host=']) {
      rejects(
        { DATABASE_URL: url },
        'DATABASE_URL',
        'names no database host (postgres://user:password@host:port/database)',
      );
    }
    for (const url of ['postgres://user:secret@db:port/pp', 'postgresql://user:secret@/pp']) {
      rejects({ DATABASE_URL: url }, 'DATABASE_URL', 'is not a valid URL');
    }
  });
});

describe('TRUST_PROXY', () => {
  it('accepts words, addresses and CIDRs', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.10,loopback,fd00::/8,::1' }).trustProxy).toBe(
      '10.0.0.0/8,192.168.1.10,loopback,fd00::/8,::1',
    );
    expect(loadConfig({ TRUST_PROXY: '0.0.0.0/0,::/128' }).trustProxy).toBe('0.0.0.0/0,::/128');
  });

  it.each(['1.2.3.4/99', '1.2.3.4/33', 'fd00::/129', '1.2.3.999', '1.2.3.4/', '1.2.3.4/8/8', ':::', 'proxy', 'a.b'])(
    'rejects %s',
    (value) => {
      rejects(
        { TRUST_PROXY: value },
        'TRUST_PROXY',
        `must be true, false or a list of proxy addresses/CIDRs (got "${value}")`,
      );
    },
  );
});

describe('whole-number variables', () => {
  const ints = [
    ['PORT', 'port', 0, 65535],
    ['DB_POOL_MAX', 'dbPoolMax', 2, 1000],
    ['DB_STATEMENT_TIMEOUT_MS', 'dbStatementTimeoutMs', 0, 3_600_000],
    ['DB_CONNECT_TIMEOUT_MS', 'dbConnectTimeoutMs', 100, 600_000],
    ['REQUEST_TIMEOUT_MS', 'requestTimeoutMs', 1_000, 3_600_000],
    ['SHUTDOWN_TIMEOUT_MS', 'shutdownTimeoutMs', 0, 600_000],
    ['BODY_LIMIT_BYTES', 'bodyLimitBytes', 1_024, 1_073_741_824],
    ['BULK_BODY_LIMIT_BYTES', 'bulkBodyLimitBytes', 1_024, 1_073_741_824],
    ['BULK_MAX_ITEMS', 'bulkMaxItems', 1, 10_000_000],
    ['RATE_LIMIT_PER_KEY_PER_MINUTE', 'rateLimitPerKeyPerMinute', 1, 100_000_000],
    ['RATE_LIMIT_PER_IP_PER_MINUTE', 'rateLimitPerIpPerMinute', 1, 100_000_000],
    ['AUTH_FAILURES_PER_IP_PER_MINUTE', 'authFailuresPerIpPerMinute', 1, 1_000_000],
  ] as const;

  it.each(ints)('%s accepts its bounds %d and %d', (name, key, min, max) => {
    expect(loadConfig({ [name]: String(min) })[key]).toBe(min);
    expect(loadConfig({ [name]: ` ${max} ` })[key]).toBe(max);
  });

  it.each(ints)('%s rejects values outside %d..%d', (name, _key, min, max) => {
    rejects({ [name]: String(max + 1) }, name, `must be between ${min} and ${max} (got ${max + 1})`);
    if (min > 0) rejects({ [name]: String(min - 1) }, name, `must be between ${min} and ${max} (got ${min - 1})`);
  });

  it.each(ints)('%s rejects text that is not a whole number', (name) => {
    for (const v of ['abc', '-1', '1.5', '1e3', '0x10', '80 80']) {
      rejects({ [name]: v }, name, `must be a whole number (got "${v}")`);
    }
  });
});

describe('boolean variables', () => {
  const bools = [
    ['ETL_ON_STARTUP', 'etlOnStartup'],
    ['ANALYTICS_SCHEDULER', 'analyticsSchedulerEnabled'],
    ['LOG_PRETTY', 'logPretty'],
    ['ETL_SHIFT_TO_NOW', 'etlShiftToNow'],
    ['METRICS_PUBLIC', 'metricsPublic'],
  ] as const;

  it.each(bools)('%s accepts true/false/1/0 in any case', (name, key) => {
    for (const [v, expected] of [
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['false', false],
      ['False', false],
      ['0', false],
    ] as const) {
      expect(loadConfig({ [name]: v })[key]).toBe(expected);
    }
  });

  it.each(bools)('%s rejects anything else', (name) => {
    for (const v of ['yes', 'no', 'on', '2']) rejects({ [name]: v }, name, `must be true, false, 1 or 0 (got "${v}")`);
  });
});

describe('ANALYTICS_VERSION and ANALYTICS_CRON_SCHEDULE', () => {
  it('accepts version 1 and 2', () => {
    expect(loadConfig({ ANALYTICS_VERSION: '1' }).analyticsVersion).toBe(1);
    expect(loadConfig({ ANALYTICS_VERSION: '2' }).analyticsVersion).toBe(2);
  });

  it.each(['3', '0', 'v2', '2.0'])('rejects version %s', (v) => {
    rejects({ ANALYTICS_VERSION: v }, 'ANALYTICS_VERSION', `must be 1 or 2 (got "${v}")`);
  });

  it.each(['*/5 * * * *', '0 0 * * 1-5', '30 * * * * *'])('accepts the cron expression %s', (cron) => {
    expect(loadConfig({ ANALYTICS_CRON_SCHEDULE: cron }).analyticsCronSchedule).toBe(cron);
  });

  it.each(['every hour', '61 * * * *', '* * *'])('rejects the cron expression %s', (cron) => {
    let caught: unknown;
    try {
      loadConfig({ ANALYTICS_CRON_SCHEDULE: cron });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe('ANALYTICS_CRON_SCHEDULE');
    expect((caught as ConfigError).message).toMatch(
      /^Invalid configuration: ANALYTICS_CRON_SCHEDULE is not a valid cron expression: /,
    );
  });
});

describe('ADMIN_API_KEY', () => {
  it('accepts 32 to 256 visible characters', () => {
    const k32 = 'Zq3vN8pXr1Lm6TbY0sWc9HdK2fJg7RuE';
    expect(loadConfig({ ADMIN_API_KEY: k32 }).adminApiKey).toBe(k32);
    const k256 = 'A1-_.~!'.repeat(36).padEnd(256, 'z');
    expect(loadConfig({ ADMIN_API_KEY: k256 }).adminApiKey).toBe(k256);
  });

  it('rejects keys shorter than 32 characters, without echoing them', () => {
    rejects({ ADMIN_API_KEY: 'k'.repeat(31) }, 'ADMIN_API_KEY', 'must be at least 32 characters long');
    rejects({ ADMIN_API_KEY: 'changeme' }, 'ADMIN_API_KEY', 'must be at least 32 characters long');
  });

  const guessable =
    'is too easy to guess (too few different characters for its length; at least 96 bits estimated are ' +
    'needed); use a random value, for example the output of `openssl rand -hex 32`';

  it('rejects keys of repeated or few characters, without echoing them', () => {
    for (const weak of [
      'a'.repeat(32),
      'k'.repeat(256),
      `pp_ADMINKEY_${'a'.repeat(42)}7`,
      'abababababababababababababababab',
      'admin-admin-admin-admin-admin-admin',
    ]) {
      rejects({ ADMIN_API_KEY: weak }, 'ADMIN_API_KEY', guessable);
    }
  });

  it('estimates entropy as Shannon entropy per character times length', () => {
    expect(estimatedEntropyBits('a'.repeat(32))).toBe(0);
    expect(estimatedEntropyBits('ab'.repeat(16))).toBe(32);
    expect(estimatedEntropyBits('0123456789abcdef'.repeat(2))).toBe(128);
  });

  it('accepts whatever the recommended generators produce', () => {
    // openssl rand -hex 32 / -base64 32 give the same text as these; generated keys are pp_ keys.
    const generators: [string, () => string][] = [
      ['openssl rand -hex 32', () => randomBytes(32).toString('hex')],
      ['openssl rand -base64 32', () => randomBytes(32).toString('base64')],
      ['a generated API key', () => generateKey().key],
    ];
    for (const [name, generate] of generators) {
      let lowest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 5_000; i++) {
        const key = generate();
        lowest = Math.min(lowest, estimatedEntropyBits(key));
        expect(loadConfig({ ADMIN_API_KEY: key }).adminApiKey, name).toBe(key);
      }
      // Far above the bar, so no random draw comes near it.
      expect(lowest, name).toBeGreaterThan(150);
    }
  });

  it('rejects keys that could never be presented', () => {
    rejects({ ADMIN_API_KEY: 'k'.repeat(257) }, 'ADMIN_API_KEY', 'must be at most 256 characters long');
    rejects(
      { ADMIN_API_KEY: 'Zq3vN8pXr1Lm6Tb Y0sWc9HdK2fJg7RuE' },
      'ADMIN_API_KEY',
      'must be printable ASCII without spaces',
    );
    rejects(
      { ADMIN_API_KEY: 'Zq3vN8pXr1Lm6TbY0sWc9HdK2fJg7RuEé' },
      'ADMIN_API_KEY',
      'must be printable ASCII without spaces',
    );
  });
});

describe('LOG_LEVEL', () => {
  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts %s', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
    expect(loadConfig({ LOG_LEVEL: level.toUpperCase() }).logLevel).toBe(level);
  });

  it('rejects unknown levels', () => {
    rejects(
      { LOG_LEVEL: 'verbose' },
      'LOG_LEVEL',
      'must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    );
  });
});

describe('ETL files', () => {
  const patients = path.join(tmp, 'x.json');
  const readings = path.join(tmp, 'r.csv');
  writeFileSync(patients, '[]');
  writeFileSync(readings, 'patient_id,timestamp,type,value\n');

  it('shifts timestamps only for the bundled sample, unless told', () => {
    expect(loadConfig({ ETL_PATIENTS_FILE: patients })).toMatchObject({
      etlPatientsFile: patients,
      etlReadingsFile: 'data/readings.csv',
      etlShiftToNow: false,
    });
    expect(loadConfig({ ETL_READINGS_FILE: readings })).toMatchObject({
      etlReadingsFile: readings,
      etlShiftToNow: false,
    });
    expect(loadConfig({ ETL_READINGS_FILE: readings, ETL_SHIFT_TO_NOW: 'true' }).etlShiftToNow).toBe(true);
    expect(loadConfig({ ETL_SHIFT_TO_NOW: '0' }).etlShiftToNow).toBe(false);
  });

  it('requires files set explicitly to exist, when the startup load is on', () => {
    const missing = path.join(tmp, 'missing.csv');
    rejects({ ETL_PATIENTS_FILE: missing }, 'ETL_PATIENTS_FILE', `points at a missing file: ${missing}`);
    rejects(
      { ETL_PATIENTS_FILE: patients, ETL_READINGS_FILE: missing },
      'ETL_READINGS_FILE',
      `points at a missing file: ${missing}`,
    );
    // Not read when the startup load is off.
    expect(loadConfig({ ETL_ON_STARTUP: 'false', ETL_READINGS_FILE: missing }).etlReadingsFile).toBe(missing);
    // The sample's own paths are resolved against the project root at start-up.
    expect(loadConfig({ ETL_PATIENTS_FILE: 'data/patients.json' }).etlPatientsFile).toBe('data/patients.json');
  });
});

describe('CORS_ORIGINS', () => {
  it('splits a comma-separated allowlist', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example.org, http://localhost:3000,,' }).corsOrigins).toEqual([
      'https://a.example.org',
      'http://localhost:3000',
    ]);
  });

  it.each(['*', 'a.example.org', 'https://a.example.org/path', 'ftp://a.example.org'])('rejects %s', (origin) => {
    rejects({ CORS_ORIGINS: origin }, 'CORS_ORIGINS', `has an invalid origin "${origin}"`);
  });
});

describe('TLS_CERT_FILE and TLS_KEY_FILE', () => {
  const cert = path.join(tmp, 'cert.pem');
  const key = path.join(tmp, 'key.pem');
  writeFileSync(cert, 'cert');
  writeFileSync(key, 'key');

  it('accepts an existing pair', () => {
    expect(loadConfig({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key })).toMatchObject({
      tlsCertFile: cert,
      tlsKeyFile: key,
    });
  });

  it('requires both', () => {
    rejects({ TLS_CERT_FILE: cert }, 'TLS_KEY_FILE', 'must be set together with its pair');
    rejects({ TLS_KEY_FILE: key }, 'TLS_CERT_FILE', 'must be set together with its pair');
  });

  it('requires the files to exist', () => {
    const missing = path.join(tmp, 'missing.pem');
    rejects({ TLS_CERT_FILE: missing, TLS_KEY_FILE: key }, 'TLS_CERT_FILE', `points at a missing file: ${missing}`);
    rejects({ TLS_CERT_FILE: cert, TLS_KEY_FILE: missing }, 'TLS_KEY_FILE', `points at a missing file: ${missing}`);
  });
});

describe('loadDotEnv', () => {
  it('loads a .env file without overriding variables already set', () => {
    const file = path.join(tmp, '.env');
    const fresh = `PP_TEST_FRESH_${process.pid}`;
    const preset = `PP_TEST_PRESET_${process.pid}`;
    writeFileSync(file, `${fresh}=from-file\n${preset}=from-file\n`);
    process.env[preset] = 'from-environment';
    try {
      loadDotEnv(file);
      expect(process.env[fresh]).toBe('from-file');
      expect(process.env[preset]).toBe('from-environment');
    } finally {
      delete process.env[fresh];
      delete process.env[preset];
    }
  });

  it('does nothing when the file is absent', () => {
    expect(() => loadDotEnv(path.join(tmp, 'absent.env'))).not.toThrow();
  });
});
