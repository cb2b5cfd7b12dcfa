/** BULK_CONCURRENCY: how many bulk requests are processed at once (0 = no limit). */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';

/** The ConfigError loadConfig(env) throws, or undefined. */
function configError(env: Record<string, string>): ConfigError | undefined {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  return undefined;
}

describe('BULK_CONCURRENCY', () => {
  it('defaults to no limit (0) on either database', () => {
    expect(loadConfig({}).bulkConcurrency).toBe(0);
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/pp' }).bulkConcurrency).toBe(0);
    expect(loadConfig({ BULK_CONCURRENCY: '   ' }).bulkConcurrency).toBe(0);
  });

  it('accepts whole numbers from 0 to 10000 on either database', () => {
    expect(loadConfig({ BULK_CONCURRENCY: '0' }).bulkConcurrency).toBe(0);
    expect(loadConfig({ BULK_CONCURRENCY: ' 4 ' }).bulkConcurrency).toBe(4);
    expect(loadConfig({ BULK_CONCURRENCY: '10000' }).bulkConcurrency).toBe(10_000);
    expect(loadConfig({ BULK_CONCURRENCY: '3', DATABASE_URL: 'postgres://db/pp' }).bulkConcurrency).toBe(3);
  });

  it('rejects anything else with a message naming the variable', () => {
    for (const v of ['abc', '-1', '1.5', '1e3', '0x10', '2 2']) {
      const err = configError({ BULK_CONCURRENCY: v });
      expect({ variable: err?.variable, message: err?.message }).toEqual({
        variable: 'BULK_CONCURRENCY',
        message: `Invalid configuration: BULK_CONCURRENCY must be a whole number (got "${v}")`,
      });
    }
    const err = configError({ BULK_CONCURRENCY: '10001' });
    expect({ variable: err?.variable, message: err?.message }).toEqual({
      variable: 'BULK_CONCURRENCY',
      message: 'Invalid configuration: BULK_CONCURRENCY must be between 0 and 10000 (got 10001)',
    });
  });
});
