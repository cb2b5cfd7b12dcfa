/**
 * `npm run bench`: every scenario against its baseline in one run, one table, results
 * written to bench/results/. See `npm run bench -- --help` and docs/DESIGN.md
 * ("Benchmarks") for the method.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchContext } from './lib/context.js';
import { machineInfo } from './lib/machine.js';
import { parseOptions, sizesFor, USAGE, UsageError } from './lib/options.js';
import { ROOT } from './lib/processes.js';
import { markdown, printReport, writeResults } from './lib/report.js';
import { errorRow } from './lib/rows.js';
import { buildIsStale, runBuild } from './lib/servers.js';
import { NotAvailableError, type ResultRow } from './lib/types.js';
import { isSelected, planRun, SCENARIOS } from './plan.js';

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const unknown = (options.only ?? []).filter((o) => !SCENARIOS.some((s) => isSelected(s, [o])));
  if (unknown.length) {
    console.error(`bench: unknown scenario ${unknown.join(', ')}\n\n${USAGE}`);
    return 2;
  }
  const startedAt = new Date();
  const t0 = Date.now();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'patientpulse-bench-'));
  const ctx = new BenchContext(options, sizesFor(options), workDir);
  const plan = planRun(options.only, options.dbs, options.quick);
  ctx.plan = plan.map((p) => ({ scenario: p.scenario.name, db: p.db }));
  if (!options.keep) ctx.defer(async () => rmSync(workDir, { recursive: true, force: true }));

  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    ctx.log('\ninterrupted: stopping servers and dropping scratch databases');
    ctx.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const machine = await machineInfo(options.adminUrl);
  ctx.log(
    `bench: ${options.quick ? 'quick' : 'full'} run on ${options.dbs.join(' + ')}; ${plan.length} measurements; work dir ${workDir}`,
  );
  let failed = false;
  try {
    if (options.build && buildIsStale()) {
      ctx.log('building (npm run build -- --noCheck)');
      await runBuild(path.join(ctx.dir('logs'), 'build.log'));
    }
    // Fixtures are released as soon as no later scenario needs them.
    const remaining = new Map<string, number>();
    for (const p of plan) for (const f of p.scenario.fixtures(p.db)) remaining.set(f, (remaining.get(f) ?? 0) + 1);
    for (const p of plan) {
      const label = `${p.scenario.name} [${p.db}]`;
      ctx.log(`\n== ${label}: ${p.scenario.title}`);
      let rows: ResultRow[];
      const started = Date.now();
      try {
        rows = await p.scenario.run(ctx, p.db);
      } catch (err) {
        if (err instanceof NotAvailableError) {
          rows = [
            {
              ...errorRow(p.scenario.name, p.db, err),
              verdict: 'skipped (not available)',
              note: err.message,
            },
          ];
        } else {
          failed = true;
          ctx.log(`   failed: ${(err as Error).stack ?? err}`);
          rows = [errorRow(p.scenario.name, p.db, err)];
        }
      }
      ctx.results.push(...rows);
      ctx.log(`   (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      for (const f of p.scenario.fixtures(p.db)) {
        const n = (remaining.get(f) ?? 1) - 1;
        remaining.set(f, n);
        if (n === 0) await ctx.release(f);
      }
    }
  } finally {
    await ctx.cleanup();
  }
  const finishedAt = new Date();
  process.stdout.write(printReport(ctx.results, ctx.profiles, machine));
  const md = markdown(ctx.results, machine, options, startedAt);
  const file = writeResults(
    path.join(ROOT, 'bench', 'results'),
    {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      options,
      sizes: ctx.sizes,
      machine,
      rows: ctx.results,
      profiles: ctx.profiles,
    },
    md,
  );
  ctx.log(
    `results: ${path.relative(ROOT, file)}, bench/results/latest${options.quick ? '-quick' : ''}.md (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
  // A smoke run fails on what it can judge: scenario errors and failed HTTP requests.
  if (options.quick && ctx.results.some((r) => r.verdict === 'MISS')) failed = true;
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
