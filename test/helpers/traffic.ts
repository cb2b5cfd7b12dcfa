/**
 * Concurrent reading writers for end-to-end tests: every write has a unique timestamp and
 * its outcome is recorded, so a test can check that each acknowledged (2xx) write is stored.
 */
import { call, type Outcome } from './server-process.js';

export interface WriteResult {
  timestamp: string;
  value: number;
  outcome: Outcome;
}

export interface Writers {
  results: WriteResult[];
  /** Asks every worker to stop after its current request. */
  stop(): void;
  /** Resolves when every worker has stopped. */
  done: Promise<void>;
}

/** Successful writes so far. */
export function acknowledged(results: WriteResult[]): WriteResult[] {
  return results.filter((r) => 'status' in r.outcome && r.outcome.status >= 200 && r.outcome.status < 300);
}

/**
 * Starts `workers` loops posting glucose readings for `patientId`. A worker stops on
 * `stop()` or when `until(outcome)` is true for one of its results.
 */
export function startWriters(opts: {
  url: string;
  key: string;
  patientId: number;
  workers: number;
  /** Distinct per test so timestamps never collide. */
  baseMs: number;
  until?: (o: Outcome) => boolean;
  timeoutMs?: number;
}): Writers {
  const results: WriteResult[] = [];
  let stopped = false;
  const worker = async (w: number) => {
    for (let n = 0; !stopped; n++) {
      const timestamp = new Date(opts.baseMs + (w * 1_000_000 + n) * 1000).toISOString();
      const value = 60 + ((w * 7 + n) % 300);
      const outcome = await call(
        `${opts.url}/api/v1/biometrics`,
        { method: 'POST', key: opts.key, json: { patient_id: opts.patientId, timestamp, type: 'glucose', value } },
        opts.timeoutMs,
      );
      results.push({ timestamp, value, outcome });
      if (opts.until?.(outcome)) return;
    }
  };
  const done = Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w))).then(() => undefined);
  return {
    results,
    stop() {
      stopped = true;
    },
    done,
  };
}

/** Resolves once `pred()` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
