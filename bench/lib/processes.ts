/**
 * Child processes: the project's npm scripts run as `npm run` runs them (the script
 * line through `sh` with node_modules/.bin on PATH, without npm's own start-up), timed
 * for wall clock and peak resident memory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TIME_BIN = '/usr/bin/time';

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Quotes one argument for sh. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The line of `npm run <name>` from package.json, or undefined when there is no such script. */
export function npmScript(name: string): string | undefined {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  return pkg.scripts?.[name];
}

/** Environment for project commands: PATH with node_modules/.bin first, like npm run. */
export function commandEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  env.PATH = `${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  return env;
}

export interface TimedResult {
  code: number | null;
  wallMs: number;
  /** Peak resident set size of the largest process in the tree, in MiB (null if unknown). */
  peakRssMb: number | null;
  /** Last lines of combined output, for diagnostics. */
  tail: string;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  logFile: string;
  timeoutMs?: number;
  cwd?: string;
}

/** Runs a shell command line, measuring wall time and peak RSS (GNU time, else /proc polling). */
export async function runTimed(commandLine: string, opts: RunOptions): Promise<TimedResult> {
  const useTime = existsSync(TIME_BIN);
  const rssFile = `${opts.logFile}.rss`;
  const argv = useTime ? [TIME_BIN, '-f', '%M', '-o', rssFile, 'sh', '-c', commandLine] : ['sh', '-c', commandLine];
  const out = openSync(opts.logFile, 'w');
  const started = process.hrtime.bigint();
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: opts.cwd ?? ROOT,
    env: opts.env,
    stdio: ['ignore', out, out],
    detached: true,
  });
  let polledPeakKb = 0;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        if (child.pid) polledPeakKb = Math.max(polledPeakKb, treeMaxRssKb(child.pid));
      }, 100);
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          if (child.pid) killTree(child.pid);
        }, opts.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, signal) => resolve(signal ? null : c));
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (poll) clearInterval(poll);
  if (timer) clearTimeout(timer);
  closeSync(out);
  let peakKb = polledPeakKb;
  if (useTime && existsSync(rssFile)) {
    const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
    peakKb = Number(lines[lines.length - 1]) || 0;
    rmSync(rssFile, { force: true });
  }
  const log = readFileSync(opts.logFile, 'utf8');
  return {
    code,
    wallMs,
    peakRssMb: peakKb > 0 ? peakKb / 1024 : null,
    tail: log.trim().split('\n').slice(-5).join('\n'),
  };
}

/** Runs `npm run <script> -- args` the way npm would (without npm itself), timed. */
export async function runScript(script: string, args: string[], opts: RunOptions): Promise<TimedResult> {
  const line = npmScript(script);
  if (!line) throw new Error(`package.json has no "${script}" script`);
  return runTimed(`${line} ${args.map(shellQuote).join(' ')}`, opts);
}

const probes = new Map<string, Promise<boolean>>();

/**
 * True when `npm run <script> -- args` exits 0 (used with --help to detect a command on
 * this build). Asked once per run.
 */
export function scriptSucceeds(script: string, args: string[], logFile: string): Promise<boolean> {
  const key = `${script} ${args.join(' ')}`;
  let p = probes.get(key);
  if (!p) {
    p = npmScript(script)
      ? runScript(script, args, { env: commandEnv({}), logFile, timeoutMs: 120_000 }).then((r) => r.code === 0)
      : Promise.resolve(false);
    probes.set(key, p);
  }
  return p;
}

/** True when `bin` is found on PATH. */
export function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${shellQuote(bin)}`], { stdio: 'ignore' }).status === 0;
}

/** Kills a detached child's whole process group. */
export function killTree(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function treeMaxRssKb(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  let max = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop() as number;
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) max = Math.max(max, Number(m[1]));
    } catch {
      // exited meanwhile
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return max;
}
