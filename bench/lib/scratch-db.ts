/**
 * Scratch databases: the bench creates its own PostgreSQL databases next to the one
 * DATABASE_URL names and drops them afterwards, so it never reads or writes user data.
 */
import pg from 'pg';

/** The same server and credentials, another database name. */
export function urlForDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl, application_name: 'patientpulse-bench' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface ScratchDb {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database named `pp_bench_<pid>_<label>` and returns its URL. */
export async function createScratchDb(adminUrl: string, label: string): Promise<ScratchDb> {
  const name = `pp_bench_${process.pid}_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}`;
  await withAdmin(adminUrl, async (c) => {
    await c.query(`drop database if exists "${name}" with (force)`);
    await c.query(`create database "${name}"`);
  });
  let dropped = false;
  return {
    name,
    url: urlForDatabase(adminUrl, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(adminUrl, (c) => c.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

/** `SHOW server_version` of the PostgreSQL server. */
export async function serverVersion(adminUrl: string): Promise<string> {
  return withAdmin(adminUrl, async (c) => {
    const r = await c.query<{ server_version: string }>('show server_version');
    return r.rows[0]?.server_version ?? 'unknown';
  });
}
