/** The scenarios and the order a run executes them in. */
import type { DbKind, Scenario } from './lib/types.js';
import { analyticsScenario } from './scenarios/analytics.js';
import { httpScenarios } from './scenarios/http.js';
import { loadScenario } from './scenarios/load.js';
import { scalingScenario } from './scenarios/scaling.js';

/** Every scenario, in the order they run within their group. */
export const SCENARIOS: Scenario[] = [...httpScenarios, scalingScenario, loadScenario, analyticsScenario];
const GROUPS = ['http', 'load', 'analytics'];
const DB_ORDER: DbKind[] = ['postgres', 'pglite'];

/** Whether `--only` selects the scenario (by name, group, or name prefix). */
export function isSelected(s: Scenario, only: string[] | null): boolean {
  return !only || only.some((o) => s.name === o || s.group === o || s.name.startsWith(`${o}.`));
}

/** (scenario, db) pairs: by group, then database, then scenario order. */
export function planRun(only: string[] | null, dbs: DbKind[], quick: boolean): { scenario: Scenario; db: DbKind }[] {
  const plan: { scenario: Scenario; db: DbKind }[] = [];
  for (const group of GROUPS) {
    for (const db of DB_ORDER) {
      for (const s of SCENARIOS) {
        if (s.group === group && isSelected(s, only) && s.dbs(dbs, quick).includes(db)) plan.push({ scenario: s, db });
      }
    }
  }
  return plan;
}
