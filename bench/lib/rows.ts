/** Building result rows: ratios, targets and verdicts in one place. */
import type { DbKind, ResultRow, Target, Verdict } from './types.js';

export const atLeast = (value: number): Target => ({ op: '>=', value, on: 'ratio' });
export const atMost = (value: number): Target => ({ op: '<=', value, on: 'ratio' });
export const below = (value: number): Target => ({ op: '<', value, on: 'ratio' });
export const valueAtMost = (value: number): Target => ({ op: '<=', value, on: 'value' });

function meets(t: Target, x: number): boolean {
  if (t.op === '>=') return x >= t.value;
  if (t.op === '<=') return x <= t.value;
  return x < t.value;
}

/** Verdict for a measured row; quick runs are smoke tests and are never judged. */
export function judge(target: Target | null, value: number | null, ratio: number | null, quick: boolean): Verdict {
  if (!target) return 'info';
  const x = target.on === 'ratio' ? ratio : value;
  if (x === null || !Number.isFinite(x)) return 'info';
  if (quick) return 'not judged';
  return meets(target, x) ? 'pass' : 'MISS';
}

export interface RowInput {
  scenario: string;
  db: DbKind;
  metric: string;
  unit: string;
  value: number | null;
  baseline?: number | null;
  baselineLabel?: string;
  /** How the ratio is formed: value / baseline (default). */
  target?: Target | null;
  note?: string;
}

/** A measured row: ratio = value / baseline, verdict from the target. */
export function measuredRow(input: RowInput, quick: boolean): ResultRow {
  const baseline = input.baseline ?? null;
  const ratio =
    input.value !== null && baseline !== null && baseline !== 0 && Number.isFinite(baseline)
      ? input.value / baseline
      : null;
  const target = input.target ?? null;
  const out: ResultRow = {
    scenario: input.scenario,
    db: input.db,
    metric: input.metric,
    unit: input.unit,
    value: input.value,
    baseline,
    ratio,
    target,
    verdict: judge(target, input.value, ratio, quick),
  };
  if (input.baselineLabel) out.baselineLabel = input.baselineLabel;
  if (input.note) out.note = input.note;
  return out;
}

/** A row for a metric that could not be measured because its endpoint or command is absent. */
export function skippedRow(input: Omit<RowInput, 'value'> & { value?: number | null }, what: string): ResultRow {
  const out: ResultRow = {
    scenario: input.scenario,
    db: input.db,
    metric: input.metric,
    unit: input.unit,
    value: input.value ?? null,
    baseline: input.baseline ?? null,
    ratio: null,
    target: input.target ?? null,
    verdict: 'skipped (not available)',
    note: `${what} is not available on this build`,
  };
  if (input.baselineLabel) out.baselineLabel = input.baselineLabel;
  return out;
}

/** A row recording that a scenario failed. */
export function errorRow(scenario: string, db: DbKind, err: unknown): ResultRow {
  const message = err instanceof Error ? err.message : String(err);
  return {
    scenario,
    db,
    metric: 'run',
    unit: '',
    value: null,
    baseline: null,
    ratio: null,
    target: null,
    verdict: 'error',
    note: message.split('\n')[0]?.slice(0, 300) ?? message,
  };
}
