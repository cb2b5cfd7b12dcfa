/** The one result table, as text for the terminal and Markdown for the README. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProfileSummary } from './context.js';
import { formatProfile } from './cpu-profile.js';
import { describeMachine, type MachineInfo } from './machine.js';
import type { BenchOptions, Sizes } from './options.js';
import type { ResultRow, Target } from './types.js';

export const COLUMNS = ['scenario', 'metric', 'value', 'baseline', 'ratio', 'target', 'verdict'] as const;

function num(x: number): string {
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}

function withUnit(x: number | null, unit: string): string {
  if (x === null || !Number.isFinite(x)) return '—';
  return unit ? `${num(x)} ${unit}` : num(x);
}

function ratio(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '—';
  return x < 0.1 ? x.toPrecision(2) : x.toFixed(2);
}

function target(t: Target | null, unit: string): string {
  if (!t) return '—';
  const op = t.op === '>=' ? '≥' : t.op === '<=' ? '≤' : '<';
  return t.on === 'ratio' ? `${op} ${t.value}` : `${op} ${num(t.value)}${unit ? ` ${unit}` : ''} (value)`;
}

/** Table cells of a row. */
export function cells(r: ResultRow): string[] {
  return [
    `${r.scenario} [${r.db}]`,
    r.metric,
    withUnit(r.value, r.unit),
    withUnit(r.baseline, r.unit),
    ratio(r.ratio),
    target(r.target, r.unit),
    r.verdict,
  ];
}

export function textTable(rows: ResultRow[]): string {
  const all = [COLUMNS as readonly string[], ...rows.map(cells)];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(all[0] as string[]), sep, ...all.slice(1).map(line)].join('\n');
}

function notes(rows: ResultRow[]): string[] {
  const out: string[] = [];
  const labelled = new Set<string>();
  for (const r of rows) {
    const who = `${r.scenario} [${r.db}]`;
    if (r.baselineLabel && r.baseline !== null && !labelled.has(`${who} ${r.baselineLabel}`)) {
      labelled.add(`${who} ${r.baselineLabel}`);
      out.push(`${who}: baseline = ${r.baselineLabel}`);
    }
    if (r.note) out.push(`${who} ${r.metric}: ${r.note}`);
  }
  return out;
}

export function markdown(rows: ResultRow[], machine: MachineInfo, o: BenchOptions, startedAt: Date): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const head = `| ${COLUMNS.join(' | ')} |\n|${COLUMNS.map((_, i) => (i >= 2 && i <= 4 ? '---:' : '---')).join('|')}|`;
  const body = rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`).join('\n');
  const mode = o.quick ? 'quick (smoke, not judged)' : 'full';
  return [
    `Run ${startedAt.toISOString()} (${mode}; ${o.connections} connections, ${o.duration} s x ${o.rounds} alternating rounds per side${o.scale !== 1 ? `; data x${o.scale}` : ''})`,
    '',
    `Machine: ${describeMachine(machine)}`,
    '',
    head,
    body,
    '',
    ...notes(rows).map((n) => `- ${esc(n)}`),
    '',
  ].join('\n');
}

export interface ResultFile {
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  sizes: Sizes;
  machine: MachineInfo;
  rows: ResultRow[];
  profiles: ProfileSummary[];
}

/**
 * Writes results/<timestamp>.json, latest.json and latest.md; returns the JSON path.
 * Quick (smoke) runs write `-quick` files, so CI never overwrites the committed table.
 */
export function writeResults(dir: string, file: ResultFile, md: string): string {
  mkdirSync(dir, { recursive: true });
  const suffix = file.options.quick ? '-quick' : '';
  const stamp = file.startedAt.replace(/[:.]/g, '-');
  const safe = { ...file, options: { ...file.options, adminUrl: file.options.adminUrl ? 'set' : undefined } };
  const json = `${JSON.stringify(safe, null, 2)}\n`;
  const target = path.join(dir, `${stamp}${suffix}.json`);
  writeFileSync(target, json);
  writeFileSync(path.join(dir, `latest${suffix}.json`), json);
  writeFileSync(path.join(dir, `latest${suffix}.md`), md);
  return target;
}

export function printReport(rows: ResultRow[], profiles: ProfileSummary[], machine: MachineInfo): string {
  return [
    '',
    `Machine: ${describeMachine(machine)}`,
    '',
    textTable(rows),
    '',
    ...notes(rows),
    ...profiles.flatMap((p) => ['', formatProfile(p)]),
    '',
  ].join('\n');
}
