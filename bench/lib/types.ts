/** Shared types of the benchmark harness: result rows, targets, scenarios. */

export type DbKind = 'postgres' | 'pglite';

/** A target the measured ratio (or, for a few rows, the value itself) must meet. */
export interface Target {
  op: '>=' | '<=' | '<';
  value: number;
  on: 'ratio' | 'value';
}

export type Verdict = 'pass' | 'MISS' | 'info' | 'not judged' | 'skipped (not available)' | 'error';

/** One line of the result table. */
export interface ResultRow {
  scenario: string;
  db: DbKind;
  metric: string;
  /** Unit of `value` and `baseline` (for display). */
  unit: string;
  value: number | null;
  baseline: number | null;
  /** What the baseline column holds for this row, for example "bare node:http + pg". */
  baselineLabel?: string;
  ratio: number | null;
  target: Target | null;
  verdict: Verdict;
  note?: string;
}

/** A benchmark scenario: one module, driving the public interface of the running build. */
export interface Scenario {
  /** Stable name used by `--only` and in the table, e.g. `http.history`. */
  name: string;
  /** Group for ordering and fixture sharing, e.g. `http`. */
  group: string;
  title: string;
  /** Databases this scenario runs on for the chosen `--db` (and mode). */
  dbs(selected: DbKind[], quick: boolean): DbKind[];
  /** Fixture keys this scenario uses (released once no planned scenario needs them). */
  fixtures(db: DbKind): string[];
  run(ctx: import('./context.js').BenchContext, db: DbKind): Promise<ResultRow[]>;
}

/** Thrown by a scenario whose endpoint or command is absent on the running build. */
export class NotAvailableError extends Error {
  constructor(readonly what: string) {
    super(`${what} is not available on this build`);
    this.name = 'NotAvailableError';
  }
}
