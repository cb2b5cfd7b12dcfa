/**
 * The benchmark harness's own logic: options, verdicts, medians, the table, profile
 * areas, CPU deltas, the COPY file conversion and the run plan. No timings are asserted
 * (the measurements live in bench/ and run with `npm run bench`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { areaOf } from '../bench/lib/cpu-profile.js';
import { cpuDelta } from '../bench/lib/cpu-usage.js';
import { toCopyFile } from '../bench/lib/datasets.js';
import { type LoadResult, median, medianResult } from '../bench/lib/http-load.js';
import { parseOptions, sizesFor, UsageError } from '../bench/lib/options.js';
import { cells } from '../bench/lib/report.js';
import { atLeast, atMost, below, measuredRow, skippedRow, valueAtMost } from '../bench/lib/rows.js';
import { productionNodeOptions } from '../bench/lib/servers.js';
import { planRun } from '../bench/plan.js';

const PG = 'postgres://postgres@127.0.0.1:5432/postgres';

describe('bench options', () => {
  it('runs on PGlite only without DATABASE_URL, and on both with it', () => {
    const a = parseOptions([], {});
    const b = parseOptions([], { DATABASE_URL: PG });
    expect(a !== 'help' && a.dbs).toEqual(['pglite']);
    expect(b !== 'help' && b.dbs).toEqual(['postgres', 'pglite']);
  });

  it('has the issue defaults, and short runs in quick mode', () => {
    const full = parseOptions(['--only', 'http.history, load'], { DATABASE_URL: PG });
    const quick = parseOptions(['--quick', '--db', 'postgres'], { DATABASE_URL: PG });
    if (full === 'help' || quick === 'help') throw new Error('unexpected help');
    expect(full).toEqual({
      quick: false,
      only: ['http.history', 'load'],
      dbs: ['postgres', 'pglite'],
      adminUrl: PG,
      connections: 32,
      duration: 10,
      rounds: 3,
      repeat: 1,
      scale: 1,
      profile: false,
      build: true,
      keep: false,
    });
    expect(quick).toMatchObject({ quick: true, dbs: ['postgres'], duration: 1, rounds: 1 });
  });

  it('refuses PostgreSQL without a URL and unknown values', () => {
    expect(() => parseOptions(['--db', 'postgres'], {})).toThrow(UsageError);
    expect(() => parseOptions(['--db', 'mysql'], { DATABASE_URL: PG })).toThrow(UsageError);
    expect(() => parseOptions(['--rounds', '0'], {})).toThrow(UsageError);
    expect(() => parseOptions(['--frobnicate'], {})).toThrow(UsageError);
    expect(parseOptions(['--help'], {})).toBe('help');
  });

  it('uses the issue sizes in a full run and scales them', () => {
    const full = sizesFor({ quick: false, scale: 1 });
    const tenth = sizesFor({ quick: false, scale: 0.1 });
    expect(full.loadRows.postgres).toBe(1_000_000);
    expect(full.analyticsReadings).toBe(10_000_000);
    expect(full.analyticsChanges).toBe(10_000);
    expect(full.scalingHistories).toEqual([1_000, 10_000, 100_000]);
    expect(tenth.loadRows.postgres).toBe(100_000);
    expect(tenth.analyticsReadings).toBe(1_000_000);
    expect(full.warmupSeconds).toBe(2);
    const quick = sizesFor({ quick: true, scale: 1 });
    expect(quick.loadRows.postgres).toBe(20_000);
    // A smoke run is not judged: no warm-up.
    expect(quick.warmupSeconds).toBe(0);
  });
});

describe('rows and verdicts', () => {
  const base = { scenario: 'http.history', db: 'postgres' as const, metric: 'req/s', unit: 'req/s' };

  it('forms the ratio value / baseline and judges it against the target', () => {
    expect(measuredRow({ ...base, value: 900, baseline: 1000, target: atLeast(0.75) }, false)).toEqual({
      ...base,
      value: 900,
      baseline: 1000,
      ratio: 0.9,
      target: { op: '>=', value: 0.75, on: 'ratio' },
      verdict: 'pass',
    });
    expect(measuredRow({ ...base, value: 700, baseline: 1000, target: atLeast(0.75) }, false).verdict).toBe('MISS');
    expect(measuredRow({ ...base, value: 1.6, baseline: 1, target: atMost(1.5) }, false).verdict).toBe('MISS');
    expect(measuredRow({ ...base, value: 0.01, baseline: 1, target: below(0.02) }, false).verdict).toBe('pass');
    expect(measuredRow({ ...base, value: 0.02, baseline: 1, target: below(0.02) }, false).verdict).toBe('MISS');
  });

  it('judges value targets on the value and never judges speed in quick mode', () => {
    expect(measuredRow({ ...base, value: 3, target: valueAtMost(0) }, false).verdict).toBe('MISS');
    expect(measuredRow({ ...base, value: 0, target: valueAtMost(0) }, false).verdict).toBe('pass');
    expect(measuredRow({ ...base, value: 10, baseline: 1000, target: atLeast(0.75) }, true).verdict).toBe('not judged');
  });

  it('says info without a target or a baseline, and skipped when absent', () => {
    expect(measuredRow({ ...base, value: 5 }, false)).toMatchObject({ ratio: null, verdict: 'info' });
    expect(measuredRow({ ...base, value: 5, baseline: null, target: atLeast(0.75) }, false).verdict).toBe('info');
    expect(skippedRow({ ...base, baseline: 12 }, 'npm run etl')).toEqual({
      ...base,
      value: null,
      baseline: 12,
      ratio: null,
      target: null,
      verdict: 'skipped (not available)',
      note: 'npm run etl is not available on this build',
    });
  });

  it('renders cells with units, small ratios with two significant digits, and dashes', () => {
    const row = measuredRow({ ...base, value: 12_345.6, baseline: 800_000, target: atLeast(0.75) }, false);
    expect(cells(row)).toEqual([
      'http.history [postgres]',
      'req/s',
      '12,346 req/s',
      '800,000 req/s',
      '0.015',
      '≥ 0.75',
      'MISS',
    ]);
    const skipped = skippedRow({ ...base, metric: 'peak RSS', unit: 'MB', target: valueAtMost(300) }, 'npm run etl');
    expect(cells(skipped)).toEqual([
      'http.history [postgres]',
      'peak RSS',
      '—',
      '—',
      '—',
      '≤ 300 MB (value)',
      'skipped (not available)',
    ]);
  });
});

describe('medians', () => {
  const run = (rps: number, errors: number, cpu: number | null): LoadResult => ({
    rps,
    ups: rps * 2,
    p50: rps / 10,
    p99: rps / 5,
    errors,
    requests: rps * 10,
    statuses: { '200': rps * 10, ...(errors ? { '503': errors } : {}) },
    cpuServerMs: cpu,
    cpuDbMs: null,
  });

  it('takes medians of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('takes per-metric medians over rounds and sums errors and statuses', () => {
    expect(medianResult([run(100, 0, 2), run(300, 1, null), run(200, 2, 4)])).toEqual({
      rps: 200,
      ups: 400,
      p50: 20,
      p99: 40,
      errors: 3,
      requests: 6000,
      statuses: { '200': 6000, '503': 3 },
      cpuServerMs: 3,
      cpuDbMs: null,
    });
  });
});

describe('profiles and CPU', () => {
  it('names the area of a frame', () => {
    expect(areaOf('node:internal/streams/writable', 'write')).toBe('node internals');
    expect(areaOf('file:///app/node_modules/drizzle-orm/sql/sql.js', 'is')).toBe('drizzle-orm');
    expect(areaOf('file:///app/node_modules/@fastify/rate-limit/index.js', 'f')).toBe('@fastify/rate-limit');
    expect(areaOf('file:///app/dist/modules/biometrics/biometrics.service.js', 'f')).toBe('app');
    expect(areaOf('', '(garbage collector)')).toBe('gc');
    expect(areaOf('', '(idle)')).toBe('idle');
  });

  it('counts backends that appeared during a run from zero', () => {
    const before = { server: 100, backends: new Map([[11, 50]]) };
    const after = {
      server: 160,
      backends: new Map([
        [11, 70],
        [12, 5],
      ]),
    };
    expect(cpuDelta(before, after)).toEqual({ server: 60, db: 25 });
    expect(cpuDelta({ server: null, backends: new Map() }, { server: 1, backends: new Map() })).toEqual({
      server: null,
      db: null,
    });
  });
});

describe('COPY file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-copy-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one biometrics line per non-empty reading cell', async () => {
    const csv = path.join(dir, 'readings.csv');
    const out = path.join(dir, 'copy.csv');
    writeFileSync(
      csv,
      [
        'patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg',
        'a@example.org,2026-01-01T08:00:00,98,121,79,70.5',
        'B@example.org,2026-01-01T09:30:00,,,,81.0',
        '',
      ].join('\n'),
    );
    const ids = new Map([
      ['a@example.org', 1],
      ['b@example.org', 2],
    ]);
    expect(await toCopyFile(csv, out, ids)).toBe(5);
    expect(readFileSync(out, 'utf8')).toBe(
      [
        '1,glucose,98,mg/dL,2026-01-01T08:00:00Z',
        '1,systolic,121,mmHg,2026-01-01T08:00:00Z',
        '1,diastolic,79,mmHg,2026-01-01T08:00:00Z',
        '1,weight,70.5,kg,2026-01-01T08:00:00Z',
        '2,weight,81.0,kg,2026-01-01T09:30:00Z',
        '',
      ].join('\n'),
    );
  });

  it('refuses a row for a patient it cannot map', async () => {
    const csv = path.join(dir, 'unknown.csv');
    writeFileSync(
      csv,
      'patient_email,timestamp,glucose_mg_dL,bp_systolic,bp_diastolic,weight_kg\nz@x.org,2026-01-01T08:00:00,98,,,\n',
    );
    await expect(toCopyFile(csv, path.join(dir, 'unknown-out.csv'), new Map())).rejects.toThrow('unknown patient');
  });
});

describe('run plan', () => {
  const names = (p: ReturnType<typeof planRun>) => p.map((x) => `${x.scenario.name}@${x.db}`);

  it('runs PostgreSQL before PGlite within each group, and analytics on PostgreSQL only', () => {
    expect(names(planRun(null, ['postgres', 'pglite'], false))).toEqual([
      'http.patients@postgres',
      'http.history@postgres',
      'http.upsert@postgres',
      'http.bulk@postgres',
      'scaling@postgres',
      'http.patients@pglite',
      'http.history@pglite',
      'http.upsert@pglite',
      'http.bulk@pglite',
      'load@postgres',
      'load@pglite',
      'analytics@postgres',
    ]);
  });

  it('keeps one embedded HTTP endpoint in quick mode, and selects by group (http includes scaling) or name', () => {
    expect(names(planRun(['http'], ['postgres', 'pglite'], true))).toEqual([
      'http.patients@postgres',
      'http.history@postgres',
      'http.upsert@postgres',
      'http.bulk@postgres',
      'scaling@postgres',
      'http.history@pglite',
    ]);
    expect(names(planRun(['scaling', 'analytics'], ['pglite'], false))).toEqual(['scaling@pglite']);
  });
});

describe('production start', () => {
  it('starts the server with the Node options of the start:prod script, as deployments do', () => {
    const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['start:prod']).toBe('node --max-semi-space-size=32 dist/server.js');
    expect(productionNodeOptions()).toEqual(['--max-semi-space-size=32']);
    // The container starts it the same way.
    const dockerfile = readFileSync(path.join(import.meta.dirname, '..', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('CMD ["node", "--max-semi-space-size=32", "dist/server.js"]');
  });
});
