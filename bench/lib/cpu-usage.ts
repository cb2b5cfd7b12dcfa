/**
 * CPU time actually consumed by a server process and by its PostgreSQL backends, read
 * from /proc. On a shared machine the rate a process reaches depends on how much CPU it
 * was given; the CPU it spent per request does not, so these figures explain a ratio
 * even when the machine is busy.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds of a process so far, or null when unreadable. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks() : null;
  } catch {
    return null;
  }
}

export interface CpuSnapshot {
  server: number | null;
  /** CPU ms per backend pid. */
  backends: Map<number, number>;
}

export interface CpuSampler {
  snapshot(): Promise<CpuSnapshot>;
  close(): Promise<void>;
}

/**
 * Samples a server process and the PostgreSQL backends whose application_name matches
 * `appNameLike` (PostgreSQL on this machine only; otherwise only the process).
 */
export async function cpuSampler(pid: number, db?: { url: string; appNameLike: string }): Promise<CpuSampler> {
  let client: pg.Client | undefined;
  if (db) {
    client = new pg.Client({ connectionString: db.url, application_name: 'patientpulse-bench-monitor' });
    await client.connect();
  }
  return {
    async snapshot() {
      const backends = new Map<number, number>();
      if (client && db) {
        const r = await client.query<{ pid: number }>(
          `select pid from pg_stat_activity where datname = current_database() and application_name like $1`,
          [db.appNameLike],
        );
        for (const { pid: b } of r.rows) {
          const ms = processCpuMs(b);
          if (ms !== null) backends.set(b, ms);
        }
      }
      return { server: processCpuMs(pid), backends };
    },
    async close() {
      await client?.end();
    },
  };
}

/** CPU ms spent between two snapshots: the server, and all backends (new ones from zero). */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): { server: number | null; db: number | null } {
  const server = before.server !== null && after.server !== null ? after.server - before.server : null;
  let db: number | null = null;
  if (after.backends.size > 0) {
    db = 0;
    for (const [pid, ms] of after.backends) db += ms - (before.backends.get(pid) ?? 0);
  }
  return { server, db };
}
