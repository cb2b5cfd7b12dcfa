/**
 * HTTP load with autocannon, and the alternating A/B method: the application and its
 * baseline take turns (A B A B ...) in the same run, each round under the same
 * machine noise, and the medians per side are compared.
 */
import autocannon from 'autocannon';
import { type CpuSampler, cpuDelta } from './cpu-usage.js';

export interface RequestPlan {
  method: 'GET' | 'POST';
  /** Builds the next request: called once per request sent. */
  next(): { path: string; body?: string; contentType?: string };
  /** Units of work per successful request (1, or readings per bulk request). */
  unitsPerRequest: number;
}

export interface LoadResult {
  /** Successful (2xx) requests per second. */
  rps: number;
  /** Successful units per second (rps x units per request). */
  ups: number;
  p50: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx responses. */
  errors: number;
  requests: number;
  statuses: Record<string, number>;
  /** CPU milliseconds per completed request: the server process, and its database backends. */
  cpuServerMs: number | null;
  cpuDbMs: number | null;
}

export interface LoadOptions {
  connections: number;
  duration: number;
  apiKey: string;
}

/** One fixed-duration autocannon run against `url`. */
export async function runLoad(url: string, plan: RequestPlan, o: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: o.connections,
    duration: o.duration,
    timeout: 60,
    requests: [
      {
        setupRequest(req) {
          const r = plan.next();
          const headers: Record<string, string> = { authorization: `Bearer ${o.apiKey}` };
          if (r.body !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
          return {
            ...req,
            method: plan.method,
            path: r.path,
            headers,
            ...(r.body !== undefined ? { body: r.body } : {}),
          };
        },
      },
    ],
  });
  const ok = result['2xx'];
  const seconds = result.duration > 0 ? result.duration : o.duration;
  const statuses: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = s.count;
  return {
    rps: ok / seconds,
    ups: (ok * plan.unitsPerRequest) / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    requests: ok + result.non2xx,
    statuses,
    cpuServerMs: null,
    cpuDbMs: null,
  };
}

/**
 * Waits until the server has worked off what the load left in flight: autocannon stops
 * at the deadline, but the server still finishes the requests it had accepted. One more
 * request of the same kind queues behind them; its answer means the backlog is gone, so
 * the next run (often the other side's) starts on an idle machine.
 */
export async function drain(s: Side, apiKey: string): Promise<void> {
  const r = s.plan.next();
  const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
  if (r.body !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
  try {
    const res = await fetch(`${s.url}${r.path}`, {
      method: s.plan.method,
      headers,
      body: r.body ?? null,
      signal: AbortSignal.timeout(300_000),
    });
    await res.arrayBuffer();
  } catch {
    // a failed probe only means we did not wait; the measurement itself counts errors
  }
}

/** `runLoad`, drained, with the CPU the side spent per request. */
async function measuredLoad(s: Side, o: LoadOptions): Promise<LoadResult> {
  const before = s.cpu ? await s.cpu.snapshot() : undefined;
  const r = await runLoad(s.url, s.plan, o);
  await drain(s, o.apiKey);
  if (!s.cpu || !before) return r;
  const d = cpuDelta(before, await s.cpu.snapshot());
  // The CPU covers the completed requests, the ones in flight at the deadline (one per
  // connection, finished during the drain) and the drain request.
  const done = r.requests + o.connections + 1;
  if (r.requests === 0) return r;
  return {
    ...r,
    cpuServerMs: d.server !== null ? d.server / done : null,
    cpuDbMs: d.db !== null ? d.db / done : null,
  };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Per-metric medians over rounds (errors are summed: any error matters). */
export function medianResult(runs: LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    rps: median(runs.map((r) => r.rps)),
    ups: median(runs.map((r) => r.ups)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    statuses,
    cpuServerMs: medianOrNull(runs.map((r) => r.cpuServerMs)),
    cpuDbMs: medianOrNull(runs.map((r) => r.cpuDbMs)),
  };
}

function medianOrNull(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? median(v) : null;
}

export interface Side {
  label: string;
  url: string;
  plan: RequestPlan;
  /** Samples the CPU of the side's server (and database backends), when available. */
  cpu?: CpuSampler;
}

export interface AlternateOptions extends LoadOptions {
  rounds: number;
  /** Warm-up chunk length; chunks repeat until `warmupRequests` are done or the cap is hit. */
  warmupSeconds: number;
  /**
   * Requests each side serves before measuring. The JIT optimizes by invocation count,
   * not by time: on a busy machine a fixed warm-up time leaves the slower side colder.
   */
  warmupRequests: number;
  warmupCapSeconds: number;
  log: (msg: string) => void;
}

async function warmUp(s: Side, o: AlternateOptions): Promise<void> {
  if (o.warmupSeconds <= 0) return;
  const target = Math.max(1, Math.ceil(o.warmupRequests / Math.max(1, s.plan.unitsPerRequest / 10)));
  const started = Date.now();
  let done = 0;
  do {
    done += (await runLoad(s.url, s.plan, { ...o, duration: o.warmupSeconds })).requests;
    await drain(s, o.apiKey);
  } while (done < target && Date.now() - started < o.warmupCapSeconds * 1000);
}

/**
 * Warms every side up, then runs rounds of A, B, (C...) in turn; returns each side's
 * per-round results and their medians.
 */
export async function alternate(
  sides: Side[],
  o: AlternateOptions,
): Promise<Record<string, { median: LoadResult; runs: LoadResult[] }>> {
  for (const s of sides) await warmUp(s, o);
  const runs: Record<string, LoadResult[]> = Object.fromEntries(sides.map((s) => [s.label, []]));
  for (let round = 1; round <= o.rounds; round++) {
    for (const s of sides) {
      const r = await measuredLoad(s, o);
      runs[s.label]?.push(r);
      o.log(
        `    round ${round}/${o.rounds} ${s.label.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s` +
          `  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  errors ${r.errors}`,
      );
    }
  }
  return Object.fromEntries(
    sides.map((s) => [s.label, { median: medianResult(runs[s.label] ?? []), runs: runs[s.label] ?? [] }]),
  );
}
