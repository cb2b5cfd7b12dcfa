/**
 * Real server processes for end-to-end tests: spawned the way operators run them, on a
 * port the OS picks (PORT=0; the URL is read from the "ready" log line), with JSON logs
 * captured for assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A fixed admin key for spawned servers (ADMIN_API_KEY). */
export const E2E_ADMIN_KEY = 'e2e-admin-key-0123456789abcdef0123456789';

export interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  [k: string]: unknown;
}

export interface ServerProcess {
  child: ChildProcess;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Parsed JSON log lines so far. */
  logs: LogLine[];
  /** Everything written to stdout and stderr that was not a JSON log line. */
  text(): string;
  /** Resolves when the process has exited and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line matching `pred` (already seen or future). */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  env: Record<string, string>;
  /** Command and arguments; default `node --import tsx src/server.ts`. */
  command?: [string, ...string[]];
  /** Own process group (so a test can signal the whole group, as Ctrl-C does). */
  detached?: boolean;
  readyTimeoutMs?: number;
}

/** Spawns a server and resolves once it logged that it is ready. */
export async function startServerProcess(opts: StartOptions): Promise<ServerProcess> {
  const [cmd, ...args] = opts.command ?? [process.execPath, '--import', 'tsx', 'src/server.ts'];
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    detached: opts.detached ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      // Empty values count as unset, and stop a developer's .env from filling them in.
      DATABASE_URL: '',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      ETL_ON_STARTUP: 'false',
      ADMIN_API_KEY: E2E_ADMIN_KEY,
      ...opts.env,
    },
  });
  const logs: LogLine[] = [];
  let other = '';
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const onLine = (line: string) => {
    let parsed: LogLine | undefined;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object' && 'level' in v && 'msg' in v) parsed = v as LogLine;
    } catch {
      // not a log line
    }
    if (!parsed) {
      other += `${line}\n`;
      return;
    }
    logs.push(parsed);
    for (const w of waiters) {
      if (w.pred(parsed)) {
        waiters.delete(w);
        w.resolve(parsed);
      }
    }
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buf += chunk;
      let i = buf.indexOf('\n');
      while (i !== -1) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
  }
  // 'close' rather than 'exit': it also waits for the output of every process holding
  // the pipes (under npm, the server is a grandchild), so no log line is missed.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 30_000) => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const w = { pred, resolve: (l: LogLine) => resolve(l) };
      waiters.add(w);
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`log line not seen in ${timeoutMs} ms; output so far:\n${other}${JSON.stringify(logs)}`));
      }, timeoutMs);
      const done = (l: LogLine) => {
        clearTimeout(timer);
        resolve(l);
      };
      w.resolve = done;
      void exited.then(() => {
        if (waiters.delete(w)) {
          clearTimeout(timer);
          reject(new Error(`server exited before the log line; output:\n${other}${JSON.stringify(logs)}`));
        }
      });
    });
  };

  let ready: LogLine;
  try {
    ready = await waitForLog((l) => l.msg.startsWith('PatientPulse ready'), opts.readyTimeoutMs ?? 150_000);
  } catch (err) {
    // Never leave a half-started server (or, under npm, its whole process group) behind.
    killTree(child, opts.detached ?? false);
    throw err;
  }
  const url = String(ready.api).replace(/\/api\/v1$/, '');
  return {
    child,
    url,
    logs,
    text: () => other,
    exited,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Kills a server that a failed test left running (its process group when it has one). */
export function killServer(server: ServerProcess | undefined, detached = false): void {
  if (server) killTree(server.child, detached);
}

function killTree(child: ChildProcess, detached: boolean): void {
  if (detached && child.pid) {
    try {
      process.kill(-child.pid, 'SIGKILL'); // the group outlives its leader under npm
      return;
    } catch {
      // group already gone
    }
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Outcome of one HTTP call: a status, or the network error code (ECONNREFUSED, ECONNRESET...). */
export type Outcome = { status: number; body: unknown; headers: Headers } | { error: string };

/** fetch() that turns network failures into `{ error: code }` instead of throwing. */
export async function call(
  url: string,
  init: RequestInit & { key?: string; json?: unknown } = {},
  timeoutMs = 15_000,
): Promise<Outcome> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set('authorization', `Bearer ${init.key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  try {
    const res = await fetch(url, { ...init, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // plain text (metrics)
    }
    return { status: res.status, body: parsed, headers: res.headers };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; name?: string; message?: string } };
    if (e.name === 'TimeoutError') return { error: 'TIMEOUT' };
    return { error: e.cause?.code ?? e.cause?.name ?? e.message };
  }
}
