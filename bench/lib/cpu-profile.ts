/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and ranks where the time went: the
 * hottest functions by self time, and self time by area (application code, each
 * package, Node internals, garbage collection, idle).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ProfileSummary } from './context.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Area of a script URL: `app`, an npm package name, `node` internals, or a V8 pseudo-frame. */
export function areaOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native)';
    return 'native';
  }
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? 'package');
  }
  if (url.includes('/dist/') || url.includes('/src/')) return 'app';
  return 'other';
}

function shortWhere(url: string, line: number): string {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  const p = nm !== -1 ? url.slice(nm + '/node_modules/'.length) : url.replace(/^file:\/\/.*?\/(dist|src)\//, '$1/');
  return `${p}:${line + 1}`;
}

const RUNTIME_AREAS = new Set(['node internals', 'native', 'program (native)', 'gc', 'other']);

/**
 * Summary of the newest profile in `dir`, or undefined when there is none. Samples in
 * the first `skipMs` (process start-up) are left out.
 */
export function summarizeProfile(dir: string, label: string, skipMs = 0, topN = 15): ProfileSummary | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const file = files[0];
  if (!file) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let clock = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    clock += dt;
    if (clock < skipMs * 1000) continue;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  /** The nearest caller outside Node and V8: who asked for this native or runtime work. */
  const responsible = (id: number): string => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f) break;
      const a = areaOf(f.url, f.functionName);
      if (!RUNTIME_AREAS.has(a)) return a;
    }
    return 'node internals';
  };
  const byCaller = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const byFn = new Map<string, { name: string; where: string; us: number }>();
  const byArea = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const area = areaOf(url, functionName);
    total += us;
    if (area === 'idle') {
      idle += us;
      continue;
    }
    const key = `${functionName}@${url}:${lineNumber}`;
    const e = byFn.get(key) ?? { name: functionName || '(anonymous)', where: shortWhere(url, lineNumber), us: 0 };
    e.us += us;
    byFn.set(key, e);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const who = area === 'gc' ? 'gc' : responsible(id);
    byCaller.set(who, (byCaller.get(who) ?? 0) + us);
  }
  // Percentages of busy time: idle is waiting for the database or the network.
  const busy = Math.max(1, total - idle);
  return {
    label,
    file,
    totalMs: busy / 1000,
    top: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ name: e.name, where: e.where, selfPct: (100 * e.us) / busy })),
    byArea: [...byArea.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfPct: (100 * us) / busy })),
    byCaller: [...byCaller.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfPct: (100 * us) / busy })),
  };
}

/** Text rendering of a summary. */
export function formatProfile(s: ProfileSummary): string {
  const lines = [`CPU profile: ${s.label} (${(s.totalMs / 1000).toFixed(1)} s busy after start-up; ${s.file})`];
  lines.push('  self time by area:');
  for (const a of s.byArea.slice(0, 12)) lines.push(`    ${a.selfPct.toFixed(1).padStart(5)}%  ${a.area}`);
  lines.push('  time by responsible package (Node and native work charged to the nearest caller outside Node):');
  for (const a of s.byCaller.slice(0, 12)) lines.push(`    ${a.selfPct.toFixed(1).padStart(5)}%  ${a.area}`);
  lines.push('  hottest functions (self time):');
  for (const t of s.top) lines.push(`    ${t.selfPct.toFixed(1).padStart(5)}%  ${t.name}  ${t.where}`);
  return lines.join('\n');
}
