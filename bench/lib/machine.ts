/** The machine and software a run measured, recorded with every result file. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './processes.js';
import { serverVersion } from './scratch-db.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGb: number;
  os: string;
  node: string;
  postgres: string | null;
  pglite: string | null;
  /** 1-minute load average when the run started: other work on a shared machine. */
  loadAverage: number;
  git: { branch: string; commit: string; dirty: boolean } | null;
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

function cpuModel(): string {
  const model = os.cpus()[0]?.model?.trim();
  if (model && model !== 'unknown') return model;
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // not Linux
  }
  return 'unknown';
}

export async function machineInfo(adminUrl: string | undefined): Promise<MachineInfo> {
  let pglite: string | null = null;
  try {
    const pkg = JSON.parse(
      readFileSync(path.join(ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8'),
    ) as { version: string };
    pglite = pkg.version;
  } catch {
    // not installed
  }
  let gitInfo: MachineInfo['git'] = null;
  try {
    gitInfo = {
      branch: git(['rev-parse', '--abbrev-ref', 'HEAD']),
      commit: git(['rev-parse', '--short', 'HEAD']),
      dirty: git(['status', '--porcelain', '--untracked-files=no']).length > 0,
    };
  } catch {
    // not a checkout
  }
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    ramGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: adminUrl ? await serverVersion(adminUrl).catch(() => null) : null,
    pglite,
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    git: gitInfo,
  };
}

export function describeMachine(m: MachineInfo): string {
  const parts = [
    `${m.cpu}, ${m.cores} cores, ${m.ramGb} GB RAM`,
    m.os,
    `Node ${m.node}`,
    m.postgres ? `PostgreSQL ${m.postgres}` : null,
    m.pglite ? `PGlite ${m.pglite}` : null,
    `load average ${m.loadAverage} at start`,
    m.git ? `${m.git.branch}@${m.git.commit}${m.git.dirty ? ' (uncommitted changes)' : ''}` : null,
  ];
  return parts.filter(Boolean).join('; ');
}
