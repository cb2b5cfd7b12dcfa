/** What every scenario gets: options, sizes, a work directory, fixtures, earlier results. */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BenchOptions, Sizes } from './options.js';
import type { DbKind, ResultRow } from './types.js';

export interface ProfileSummary {
  label: string;
  file: string;
  totalMs: number;
  top: { name: string; where: string; selfPct: number }[];
  byArea: { area: string; selfPct: number }[];
  /** Self time charged to the nearest frame outside Node and V8 (who caused the work). */
  byCaller: { area: string; selfPct: number }[];
}

interface Fixture {
  value: unknown;
  close(): Promise<void>;
}

export class BenchContext {
  readonly adminKey = `bench-admin-${randomBytes(24).toString('hex')}`;
  readonly results: ResultRow[] = [];
  readonly profiles: ProfileSummary[] = [];
  private readonly fixtures = new Map<string, Promise<Fixture>>();
  private readonly cleanups: (() => Promise<void>)[] = [];
  /** The (scenario, database) pairs this run will execute, in order. */
  plan: { scenario: string; db: DbKind }[] = [];

  constructor(
    readonly options: BenchOptions,
    readonly sizes: Sizes,
    readonly workDir: string,
  ) {}

  get quick(): boolean {
    return this.options.quick;
  }

  log(msg: string): void {
    process.stderr.write(`${msg}\n`);
  }

  /** A sub-directory of the work directory (created). */
  dir(name: string): string {
    const d = path.join(this.workDir, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Registers work to undo at the end of the run (or on Ctrl-C); runs in reverse order. */
  defer(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const key of [...this.fixtures.keys()]) await this.release(key);
    while (this.cleanups.length) {
      const fn = this.cleanups.pop();
      try {
        await fn?.();
      } catch (err) {
        this.log(`cleanup: ${(err as Error).message}`);
      }
    }
  }

  /** Shared set-up (servers, seeded databases) created once and kept until released. */
  async fixture<T>(key: string, create: () => Promise<{ value: T; close(): Promise<void> }>): Promise<T> {
    let f = this.fixtures.get(key);
    if (!f) {
      f = create();
      this.fixtures.set(key, f);
      // A failed set-up is not retried for every scenario that needs it.
    }
    return (await f).value as T;
  }

  async release(key: string): Promise<void> {
    const f = this.fixtures.get(key);
    if (!f) return;
    this.fixtures.delete(key);
    try {
      await (await f).close();
    } catch (err) {
      this.log(`closing ${key}: ${(err as Error).message}`);
    }
  }

  /** Whether `scenario` runs on `db` in this run (fixtures seed only what is needed). */
  plannedScenario(scenario: string, db: DbKind): boolean {
    return this.plan.some((p) => p.scenario === scenario && p.db === db);
  }

  /** An earlier result of this run, e.g. the PostgreSQL figure next to a PGlite one. */
  find(scenario: string, db: DbKind, metric: string): ResultRow | undefined {
    return this.results.find((r) => r.scenario === scenario && r.db === db && r.metric === metric);
  }
}
