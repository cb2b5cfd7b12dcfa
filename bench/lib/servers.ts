/**
 * The two servers of every HTTP pair: the production build (as `npm run start:prod` starts it) and
 * the bare baseline (bench/baseline-server.ts), each a child process on its own port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { commandEnv, freePort, killTree, ROOT } from './processes.js';
import type { DbKind } from './types.js';

export interface RunningServer {
  label: string;
  url: string;
  pid: number;
  logFile: string;
  /** Milliseconds from spawn to ready (start-up, left out of CPU profiles). */
  readyMs: number;
  stop(): Promise<void>;
}

/** Newest modification time under a directory (recursive). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** True when dist/ is missing or older than src/. */
export function buildIsStale(): boolean {
  const server = path.join(ROOT, 'dist', 'server.js');
  if (!existsSync(server)) return true;
  return newestMtime(path.join(ROOT, 'src')) > statSync(server).mtimeMs;
}

/**
 * `npm run build` without its type check (`tsc --noCheck`): the same JavaScript in about
 * half the time. Types are `npm run typecheck`'s to judge, not the benchmark's.
 */
export async function runBuild(logFile: string): Promise<void> {
  const out = openSync(logFile, 'w');
  const child = spawn('npm', ['run', 'build', '--', '--noCheck'], {
    cwd: ROOT,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`npm run build failed (exit ${code}); see ${logFile}`);
}

async function waitReady(url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`server exited with code ${exited} during start-up; see ${logFile}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  killTree(child.pid ?? 0);
  throw new Error(`server did not become ready within ${timeoutMs} ms; see ${logFile}`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => killTree(child.pid ?? 0), 20_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
    return stopped;
  };
}

export interface AppServerOptions {
  db: DbKind;
  databaseUrl?: string;
  dataDir?: string;
  adminKey: string;
  logFile: string;
  /** Directory for a V8 CPU profile (`--cpu-prof`), written when the server exits. */
  profileDir?: string;
}

/** The pool size both servers use (the application's default unless DB_POOL_MAX is set). */
export const POOL_MAX = Number(process.env.DB_POOL_MAX ?? 10);

/**
 * The Node options production starts the server with: those of the `start:prod` script
 * (`node <options> dist/server.js`), so the bench measures the server as it is deployed.
 */
export function productionNodeOptions(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const words = (pkg.scripts?.['start:prod'] ?? '').trim().split(/\s+/);
  if (words[0] !== 'node' || words.at(-1) !== 'dist/server.js' || words.slice(1, -1).some((w) => !w.startsWith('--'))) {
    throw new Error(`package.json "start:prod" must be "node [--options] dist/server.js" (got "${words.join(' ')}")`);
  }
  return words.slice(1, -1);
}

/**
 * Starts the production build as `start:prod` does (its Node options, `dist/server.js`),
 * with authentication on, no start-up load and no scheduler.
 */
export async function startAppServer(o: AppServerOptions): Promise<RunningServer> {
  const port = await freePort();
  const env = commandEnv({
    NODE_ENV: 'production',
    DATABASE_URL: o.db === 'postgres' ? (o.databaseUrl ?? '') : '',
    DATA_DIR: o.dataDir ?? path.join(ROOT, '.data-bench-unused'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    ADMIN_API_KEY: o.adminKey,
    ETL_ON_STARTUP: 'false',
    ANALYTICS_SCHEDULER: 'false',
    DB_POOL_MAX: String(POOL_MAX),
    // 32 connections on one key exceed the default per-key budget within a second; the
    // limiter still runs on every request, it just never trips.
    RATE_LIMIT_PER_KEY_PER_MINUTE: '100000000',
    RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
  });
  const nodeArgs = [
    ...productionNodeOptions(),
    ...(o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : []),
  ];
  const out = openSync(o.logFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist', 'server.js')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', out, out],
    detached: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  await waitReady(url, child, o.logFile, 120_000);
  const readyMs = Date.now() - t0;
  return { label: 'app', url, pid: child.pid ?? 0, logFile: o.logFile, readyMs, stop: stopper(child) };
}

export interface BaselineServerOptions {
  db: DbKind;
  databaseUrl?: string;
  /** PGlite data directory (the `pgdata` folder itself). */
  pgliteDir?: string;
  logFile: string;
}

/** Starts bench/baseline-server.ts: node:http plus the same SQL, nothing else. */
export async function startBaselineServer(o: BaselineServerOptions): Promise<RunningServer> {
  const port = await freePort();
  const env = commandEnv({
    NODE_ENV: 'production',
    BASELINE_PORT: String(port),
    BASELINE_DATABASE_URL: o.db === 'postgres' ? (o.databaseUrl ?? '') : '',
    BASELINE_PGLITE_DIR: o.db === 'pglite' ? (o.pgliteDir ?? '') : '',
    BASELINE_POOL_MAX: String(POOL_MAX),
  });
  const out = openSync(o.logFile, 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'baseline-server.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', out, out],
    detached: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  await waitReady(url, child, o.logFile, 120_000);
  const readyMs = Date.now() - t0;
  return { label: 'baseline', url, pid: child.pid ?? 0, logFile: o.logFile, readyMs, stop: stopper(child) };
}

/** Routes the running build declares in its OpenAPI document ("POST /api/v1/..."), or null. */
export async function declaredRoutes(url: string): Promise<Set<string> | null> {
  try {
    const res = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return null;
    const doc = (await res.json()) as { paths?: Record<string, Record<string, unknown>> };
    const out = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths ?? {})) {
      for (const m of Object.keys(ops)) out.add(`${m.toUpperCase()} ${p}`);
    }
    return out;
  } catch {
    return null;
  }
}
