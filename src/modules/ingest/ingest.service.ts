/**
 * The ingestion core behind the three doors (startup load, `patientpulse etl`, and
 * POST /api/v1/biometrics/bulk). Plain functions with explicit dependencies.
 *
 * Readings stream through in batches: while one batch is in the database the next is
 * parsed, and the parser is paused (backpressure) until the database has caught up, so
 * memory does not grow with the file. Each batch is one statement (see
 * ingest.repository.ts) per session, committed on its own (on PostgreSQL split by patient
 * over two sessions that commit together): after a failure, re-running the same file
 * finds the committed batches unchanged and completes the rest.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Parser, parse } from 'csv-parse';
import type { Database, Db } from '../../db/database.js';
import { withSessions } from '../../db/session.js';
import { BP_PARTNER, bpPlausible } from '../../domain/clinical.js';
import type { ReadingType } from '../../domain/readings.js';
import { latestAcceptedMs } from '../../domain/timestamps.js';
import { foldReadingCounts } from '../biometrics/biometrics.repository.js';
import {
  type AcceptedRow,
  atRecordStart,
  type ColumnMap,
  CSV_PARSE_OPTIONS,
  HeaderError,
  isBlankRecord,
  mapHeader,
  parseRow,
  type RejectedRow,
  recordLineSpan,
  toCsvLine,
} from './ingest.csv.js';
import type { PatientRecord } from './ingest.patients.js';
import { ReadingPositions } from './ingest.positions.js';
import {
  countReason,
  emptyPatientsReport,
  emptyReadingsReport,
  type PatientsReport,
  type ReadingsReport,
  type Reject,
  type RejectReason,
  type RejectSink,
} from './ingest.report.js';
import * as repo from './ingest.repository.js';

/** The subset of a pino logger the loader uses. */
export interface IngestLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The counters a load feeds (the server's metrics; the command line has none). */
export interface IngestMetrics {
  readingsIngested: { inc(n: number): void };
  loaderRejectedRows: { inc(n: number): void };
}

export interface IngestDeps {
  database: Database;
  log: IngestLog;
  now: () => Date;
  metrics?: IngestMetrics;
  /** Called after each batch has been committed (tests inject failures here). */
  afterBatch?: (batchNo: number) => void | Promise<void>;
  /**
   * Stops a readings load: no further batch is started, the one in the database finishes
   * (commits or rolls back), and the load ends with {@link LoadStoppedError}.
   */
  signal?: AbortSignal;
}

/**
 * A readings load stopped through {@link IngestDeps.signal} before the end of its file.
 * The batches counted in `report` are committed; re-running the file completes the load.
 */
export class LoadStoppedError extends Error {
  constructor(
    /** What the committed batches did. */
    readonly report: ReadingsReport,
    /** The abort reason when it is a string (the command line passes the signal's name). */
    readonly reason: string | undefined,
  ) {
    super(`stopped${reason ? ` by ${reason}` : ''} before the end of the file, after ${report.rows.read} rows`);
    this.name = 'LoadStoppedError';
  }
}

/**
 * PostgreSQL sessions a file load merges through in parallel: the merge is CPU-bound in
 * the server (index maintenance, foreign-key checks), and one session uses one core.
 */
export const INGEST_LANES = 2;
/** Rows per batch: large enough for set-based speed, small enough for flat memory. */
export const DEFAULT_BATCH_ROWS = 5_000;
const PATIENT_BATCH = 1_000;
/** Records taken from the parser at a time; batches are assembled from these chunks. */
const RECORD_CHUNK = 1_000;
/** Bound on the email -> id cache; it is cleared when full (rarely: one entry per patient). */
const PATIENT_CACHE_MAX = 200_000;

/**
 * A message for a failed run that names the cause without SQL or parameters: Drizzle
 * wraps driver errors in a message carrying the whole query and its values (PHI).
 */
export function describeError(err: unknown): string {
  let e = err as { message?: string; code?: string; cause?: unknown } | undefined;
  while (e && typeof e === 'object' && typeof e.message === 'string' && e.message.startsWith('Failed query:')) {
    e = e.cause as typeof e;
  }
  if (!e || typeof e !== 'object') return String(err);
  const code = typeof e.code === 'string' ? ` (${e.code})` : '';
  return `${e.message ?? 'unknown error'}${code}`;
}

// ---------------------------------------------------------------------------------------
// Patients
// ---------------------------------------------------------------------------------------

export interface PatientsOptions {
  dryRun?: boolean;
  rejects?: RejectSink;
}

export interface PatientsResult {
  report: PatientsReport;
  /**
   * Patients of this file that a dry run did not store: email -> provisional (negative)
   * id, so their readings count as would-be inserts instead of unknown patients.
   */
  pending: Map<string, number>;
  /** Stored patients the file named (for the audit trail). */
  patientIds: number[];
}

/**
 * Loads a patients JSON file (its text): validates each record, then upserts by email in
 * batches. A record that repeats an earlier email with other data is rejected (the first
 * one wins); with the same data it is a duplicate.
 */
export async function loadPatients(
  deps: IngestDeps,
  text: string,
  opts: PatientsOptions = {},
): Promise<PatientsResult> {
  // Loaded on demand: the API's patient schema brings TypeBox and Ajv, which a readings-only
  // load does not need.
  const { mergePatient, parsePatientRecord, sameRecord, splitJsonArray } = await import('./ingest.patients.js');
  const report = emptyPatientsReport();
  const rejects: Reject[] = [];
  const reject = (line: number, original: string, reason: RejectReason, column: string, detail: string) => {
    report.rejected++;
    countReason(report.rejectedByReason, reason);
    rejects.push({ source: 'patients', line, column, reason, detail, original });
  };
  const now = deps.now();
  const accepted = new Map<string, PatientRecord>();
  const ignored = new Set<string>();
  for (const el of splitJsonArray(text)) {
    report.records++;
    const rec = parsePatientRecord(el, now);
    if (!('email' in rec)) {
      reject(rec.line, rec.text, rec.reason, rec.column, rec.detail);
      continue;
    }
    for (const k of rec.ignored) ignored.add(k);
    const first = accepted.get(rec.email);
    if (!first) accepted.set(rec.email, rec);
    else if (sameRecord(first, rec)) report.duplicate++;
    else
      reject(rec.line, rec.text, 'conflicting_duplicate', 'email', `same email as line ${first.line} with other data`);
  }
  report.ignoredProperties = [...ignored].sort();

  const pending = new Map<string, number>();
  const patientIds: number[] = [];
  const records = [...accepted.values()];
  const db = deps.database.db;
  for (let i = 0; i < records.length; i += PATIENT_BATCH) {
    const chunk = records.slice(i, i + PATIENT_BATCH);
    const stored = new Map(
      (
        await repo.findPatientsByEmail(
          db,
          chunk.map((r) => r.email),
        )
      ).map((p) => [p.email, p]),
    );
    const writes: repo.PatientUpsert[] = [];
    for (const p of stored.values()) patientIds.push(p.id);
    for (const rec of chunk) {
      const before = stored.get(rec.email);
      const next = mergePatient(rec, before);
      if (!next) report.unchanged++;
      else {
        if (before) report.updated++;
        else {
          report.inserted++;
          pending.set(rec.email, -(pending.size + 1));
        }
        writes.push(next);
      }
    }
    if (!opts.dryRun) for (const p of await repo.upsertPatients(db, writes)) patientIds.push(p.id);
  }
  if (!opts.dryRun) pending.clear();
  rejects.sort((a, b) => a.line - b.line);
  await opts.rejects?.write(rejects);
  return { report, pending, patientIds: [...new Set(patientIds)] };
}

// ---------------------------------------------------------------------------------------
// Patient resolution (one query per batch, cached)
// ---------------------------------------------------------------------------------------

/** Resolves patients named by email or id, applying a key's patient scope. */
class PatientResolver {
  private readonly byEmail = new Map<string, number | null>();
  private readonly knownIds = new Map<number, boolean>();

  constructor(
    private readonly db: Db,
    /** Patients the caller may touch; null = all. Others resolve like unknown patients. */
    private readonly scope: ReadonlySet<number> | null,
    private readonly pending?: ReadonlyMap<string, number>,
  ) {}

  async loadEmails(emails: Iterable<string>): Promise<void> {
    const missing = [...new Set(emails)].filter((e) => !this.byEmail.has(e));
    if (missing.length === 0) return;
    if (this.byEmail.size + missing.length > PATIENT_CACHE_MAX) this.byEmail.clear();
    const found = await repo.findPatientIdsByEmail(this.db, missing);
    for (const e of missing) this.byEmail.set(e, found.get(e) ?? this.pending?.get(e) ?? null);
  }

  async loadIds(ids: Iterable<number>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.knownIds.has(id));
    if (missing.length === 0) return;
    const found = await repo.findExistingPatientIds(this.db, missing);
    for (const id of missing) this.knownIds.set(id, found.has(id));
  }

  private allowed(id: number | null | undefined): number | undefined {
    if (id === null || id === undefined) return undefined;
    return this.scope === null || this.scope.has(id) ? id : undefined;
  }

  /** The patient id for a loaded email, or undefined (unknown or out of scope). */
  email(email: string): number | undefined {
    return this.allowed(this.byEmail.get(email));
  }

  /** The id itself when it exists and is in scope. */
  id(id: number): number | undefined {
    return this.knownIds.get(id) ? this.allowed(id) : undefined;
  }

  /** Every id resolved so far that exists (in or out of scope), for the audit trail. */
  existingIds(): number[] {
    const out = [...this.knownIds].filter(([, ok]) => ok).map(([id]) => id);
    for (const id of this.byEmail.values()) if (id !== null && id > 0) out.push(id);
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// Merging candidate readings
// ---------------------------------------------------------------------------------------

/** One reading ready to store, in canonical units. */
interface Candidate {
  line: number;
  patientId: number;
  type: ReadingType;
  value: number;
  unit: string;
  tsMs: number;
}

const S_INSERTED = 1;
const S_UPDATED = 2;
const S_UNCHANGED = 3;
const S_DUPLICATE = 4;
const S_CONFLICT = 5;
/** Merged, but only counts are known (not per reading). */
const S_MERGED = 6;

interface MergeOutcome {
  status: Uint8Array;
  /** Candidate index -> line of the first, different value (conflicts only). */
  conflictLine: Map<number, number>;
  inserted: number;
  updated: number;
  unchanged: number;
  buckets: number;
}

interface MergeContext {
  db: Db;
  /**
   * Sessions that merge in parallel, each owning the patients whose id modulo their
   * number is its index (so first-occurrence order per reading is kept, each with its
   * own seen table). Default: `[db]`.
   */
  lanes?: Db[];
  dryRun: boolean;
  seenTable?: string;
  perItem: boolean;
}

const emptyBatch = (): repo.ReadingBatch => ({ patientId: [], type: [], value: [], unit: [], tsMs: [], line: [] });

/**
 * Merges each lane's part of a batch on its own session, in parallel. With several lanes
 * the parts run in transactions that are committed together only when every part
 * succeeded, so a failing statement leaves the whole batch out (a crash between the
 * commits leaves a part in, which re-running the file completes like any other batch).
 */
async function mergeOnLanes(
  lanes: readonly Db[],
  batches: readonly repo.ReadingBatch[],
  opts: repo.MergeOptions,
): Promise<repo.MergeResult[]> {
  if (lanes.length === 1) return [await repo.mergeReadings(lanes[0] as Db, batches[0] as repo.ReadingBatch, opts)];
  const settled = await Promise.allSettled(
    lanes.map(async (db, k) => {
      await repo.beginTransaction(db);
      return repo.mergeReadings(db, batches[k] as repo.ReadingBatch, opts);
    }),
  );
  // Every part has settled: no statement is left running when the batch fails.
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const ended = await Promise.allSettled(lanes.map((db) => repo.endTransaction(db, !failed)));
  if (failed) throw failed.reason;
  const endFailed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (endFailed) throw endFailed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<repo.MergeResult>).value);
}

/**
 * Deduplicates candidates (first occurrence wins, same value = duplicate, other value =
 * conflict), then merges the rest in one statement.
 */
async function mergeCandidates(ctx: MergeContext, cands: readonly Candidate[]): Promise<MergeOutcome> {
  const status = new Uint8Array(cands.length);
  const conflictLine = new Map<number, number>();
  const first = new ReadingPositions();
  const lanes = ctx.lanes ?? [ctx.db];
  const batches = lanes.map(emptyBatch);
  const position: number[] = [];
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i] as Candidate;
    const j = first.addFirst(c.patientId, c.type, c.tsMs, i);
    if (j !== undefined) {
      const f = cands[j] as Candidate;
      if (f.value === c.value) status[i] = S_DUPLICATE;
      else {
        status[i] = S_CONFLICT;
        conflictLine.set(i, f.line);
      }
      continue;
    }
    position.push(i);
    // Dry-run patients have negative provisional ids.
    const batch = batches[Math.abs(c.patientId) % lanes.length] as repo.ReadingBatch;
    batch.patientId.push(c.patientId);
    batch.type.push(c.type);
    batch.value.push(c.value);
    batch.unit.push(c.unit);
    batch.tsMs.push(c.tsMs);
    batch.line.push(c.line);
  }
  const opts = { seenTable: ctx.seenTable, dryRun: ctx.dryRun, perItem: ctx.perItem };
  const results = await mergeOnLanes(lanes, batches, opts);
  const merged: repo.MergeResult = { inserted: 0, updated: 0, buckets: 0, priors: [], changed: [] };
  for (const r of results) {
    merged.inserted += r.inserted;
    merged.updated += r.updated;
    merged.buckets += r.buckets;
    merged.priors.push(...r.priors);
    merged.changed.push(...r.changed);
  }
  for (const i of position) status[i] = ctx.perItem ? S_UNCHANGED : S_MERGED;
  const at = (k: repo.ReadingKey) => first.get(k.patientId, k.type, k.tsMs) as number;
  for (const p of merged.priors) {
    const i = at(p.key);
    if (p.firstValue === (cands[i] as Candidate).value) status[i] = S_DUPLICATE;
    else {
      status[i] = S_CONFLICT;
      conflictLine.set(i, p.firstLine);
    }
  }
  for (const ch of merged.changed) status[at(ch.key)] = ch.inserted ? S_INSERTED : S_UPDATED;
  const priors = merged.priors.length;
  return {
    status,
    conflictLine,
    inserted: merged.inserted,
    updated: merged.updated,
    unchanged: position.length - priors - merged.inserted - merged.updated,
    buckets: merged.buckets,
  };
}

// ---------------------------------------------------------------------------------------
// CSV rows
// ---------------------------------------------------------------------------------------

/** A parsed data row with what is needed to report on it. */
interface PreparedRow {
  fields: string[];
  result: AcceptedRow | RejectedRow;
}

/** Per-reading outcome, for the bulk endpoint. */
export interface ItemOutcome {
  index?: number;
  line?: number;
  column?: string;
  status: 'inserted' | 'updated' | 'unchanged' | 'duplicate' | 'rejected';
  reason?: RejectReason;
  message?: string;
}

const STATUS_NAMES: Record<number, ItemOutcome['status']> = {
  [S_INSERTED]: 'inserted',
  [S_UPDATED]: 'updated',
  [S_UNCHANGED]: 'unchanged',
  [S_DUPLICATE]: 'duplicate',
};

/**
 * Resolves patients, merges the batch's readings, and accounts for every row and
 * reading in `report`. Returns the rejects in line order (and per-item outcomes when
 * `ctx.perItem`).
 */
async function processRows(
  ctx: MergeContext,
  resolver: PatientResolver,
  rows: readonly PreparedRow[],
  report: ReadingsReport,
): Promise<{ rejects: Reject[]; items: ItemOutcome[] }> {
  await resolver.loadEmails(rows.flatMap((r) => (r.result.ok ? [r.result.email] : [])));
  const cands: Candidate[] = [];
  /** For each row: index of its first candidate (or -1 when rejected). */
  const firstCand: number[] = [];
  const patientOf: (number | undefined)[] = [];
  for (const row of rows) {
    const r = row.result;
    const pid = r.ok ? resolver.email(r.email) : undefined;
    patientOf.push(pid);
    firstCand.push(cands.length);
    if (!r.ok || pid === undefined) continue;
    for (const cell of r.cells) {
      if (cell.ok)
        cands.push({
          line: r.line,
          patientId: pid,
          type: cell.col.type,
          value: cell.value,
          unit: cell.unit,
          tsMs: r.tsMs,
        });
    }
  }
  const m = await mergeCandidates(ctx, cands);

  const rj = report.readings;
  rj.inserted += m.inserted;
  rj.updated += m.updated;
  rj.unchanged += m.unchanged;
  const rejects: Reject[] = [];
  const items: ItemOutcome[] = [];
  const reject = (line: number, fields: string[], reason: RejectReason, column: string, detail: string) => {
    rejects.push({ source: 'readings', line, column, reason, detail, original: toCsvLine(fields) });
    if (ctx.perItem) items.push({ line, ...(column ? { column } : {}), status: 'rejected', reason, message: detail });
  };
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k] as PreparedRow;
    const r = row.result;
    report.rows.read++;
    if (!r.ok) {
      report.rows.rejected++;
      countReason(report.rows.rejectedByReason, r.reason);
      reject(r.line, row.fields, r.reason, r.column, r.detail);
      continue;
    }
    if (patientOf[k] === undefined) {
      report.rows.rejected++;
      countReason(report.rows.rejectedByReason, 'unknown_patient');
      reject(r.line, row.fields, 'unknown_patient', '', 'no patient with this email');
      continue;
    }
    let c = firstCand[k] as number;
    let okCells = 0;
    let dupCells = 0;
    let badCells = 0;
    for (const cell of r.cells) {
      if (!cell.ok) {
        badCells++;
        rj.rejected++;
        countReason(rj.rejectedByReason, cell.reason);
        reject(r.line, row.fields, cell.reason, cell.col.name, cell.detail);
        continue;
      }
      const s = m.status[c] as number;
      const ci = c++;
      okCells++;
      if (s === S_DUPLICATE) {
        dupCells++;
        rj.duplicate++;
      } else if (s === S_CONFLICT) {
        badCells++;
        rj.rejected++;
        countReason(rj.rejectedByReason, 'conflicting_duplicate');
        reject(
          r.line,
          row.fields,
          'conflicting_duplicate',
          cell.col.name,
          `line ${m.conflictLine.get(ci)} already gave another ${cell.col.type} value for this patient and time`,
        );
        continue;
      }
      if (ctx.perItem) {
        items.push({ line: r.line, column: cell.col.name, status: STATUS_NAMES[s] ?? 'unchanged' });
      }
    }
    if (okCells > 0 && dupCells === okCells && badCells === 0) report.rows.duplicate++;
    else report.rows.loaded++;
  }
  report.bucketsTouched += m.buckets;
  report.batches++;
  return { rejects, items };
}

/** Turns raw CSV records into prepared rows, tracking physical line numbers. */
class RowPreparer {
  map: ColumnMap | undefined;
  private nextLine = 1;

  /** `latestMs`: the latest (shifted) timestamp accepted, see latestAcceptedMs. */
  constructor(
    private readonly shiftMs: number,
    private readonly latestMs: number,
  ) {}

  prepare(records: readonly string[][]): PreparedRow[] {
    const out: PreparedRow[] = [];
    for (const fields of records) {
      const line = this.nextLine;
      this.nextLine += recordLineSpan(fields);
      if (isBlankRecord(fields)) continue;
      if (!this.map) {
        this.map = mapHeader(fields);
        continue;
      }
      out.push({ fields, result: parseRow(this.map, fields, line, this.shiftMs, this.latestMs) });
    }
    return out;
  }

  /** Throws when the input had no header at all. */
  finish(): void {
    if (!this.map) throw new HeaderError(['the file is empty (no header line)']);
  }
}

/**
 * Yields parsed records in batches, reading more only when the consumer asks (backpressure).
 * A record the parser gives up on is reported at the line where it starts.
 */
async function* recordBatches({ parser, recordStart }: CsvInput, size: number): AsyncGenerator<string[][]> {
  let batch: string[][] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onEnd = () => {
    ended = true;
    signal();
  };
  const onError = (err: Error) => {
    failure = atRecordStart(err, recordStart());
    signal();
  };
  parser.on('readable', signal);
  parser.on('end', onEnd);
  parser.on('error', onError);
  try {
    for (;;) {
      if (failure) throw failure;
      let rec: string[] | null = parser.read();
      while (rec !== null) {
        batch.push(rec);
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
        rec = parser.read();
      }
      if (failure) throw failure;
      if (ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (batch.length > 0) yield batch;
  } finally {
    parser.off('readable', signal);
    parser.off('end', onEnd);
    parser.off('error', onError);
    if (!ended) parser.destroy();
  }
}

export interface ReadingsOptions {
  dryRun?: boolean;
  /** Data rows per batch (default {@link DEFAULT_BATCH_ROWS}). */
  batchSize?: number;
  /** Added to every timestamp (whole hours keep hourly buckets aligned). */
  shiftMs?: number;
  rejects?: RejectSink;
  onProgress?: (p: { rowsRead: number; elapsedMs: number }) => void;
  /** From a dry run of the patients file, see {@link PatientsResult.pending}. */
  pendingPatients?: ReadonlyMap<string, number>;
  /** Filled with the stored patients the file named (for the audit trail), even when the run fails. */
  patientIds?: Set<number>;
  /** Parallel sessions on PostgreSQL (default {@link INGEST_LANES}; PGlite always has one). */
  lanes?: number;
}

/** Readings stored (inserted, updated or unchanged) and rows rejected so far. */
function ingestedAndRejected(r: ReadingsReport): [number, number] {
  return [r.readings.inserted + r.readings.updated + r.readings.unchanged, r.rows.rejected];
}

function countInMetrics(metrics: IngestMetrics | undefined, before: [number, number], after: [number, number]): void {
  if (!metrics) return;
  if (after[0] > before[0]) metrics.readingsIngested.inc(after[0] - before[0]);
  if (after[1] > before[1]) metrics.loaderRejectedRows.inc(after[1] - before[1]);
}

/** A csv-parse stream and the line where its next record starts. */
interface CsvInput {
  parser: Parser;
  recordStart: () => number;
}

/** Builds the csv-parse stream for `input`, forwarding input errors. */
function csvParser(input: Readable): CsvInput {
  // Counted as each record is produced (not as it is read): when the parser fails,
  // records it produced may still wait in its buffer.
  let nextLine = 1;
  const parser = parse({
    ...CSV_PARSE_OPTIONS,
    on_record: (record: string[]) => {
      nextLine += recordLineSpan(record);
      return record;
    },
  });
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  return { parser, recordStart: () => nextLine };
}

/**
 * Streams a readings CSV into the database. Bad rows and cells are reported, never
 * fatal; an unusable header ({@link HeaderError}), an unreadable input or a database
 * failure ends the run with an error (batches committed so far stay committed), and so
 * does a stop through `deps.signal` ({@link LoadStoppedError}, after the batch in progress).
 */
export async function loadReadings(
  deps: IngestDeps,
  input: Readable,
  opts: ReadingsOptions = {},
): Promise<ReadingsReport> {
  const report = emptyReadingsReport();
  const started = Date.now();
  const batchSize = Math.max(1, opts.batchSize ?? DEFAULT_BATCH_ROWS);
  const seenTable = `ingest_seen_${randomBytes(6).toString('hex')}`;
  return withSessions(deps.database, opts.lanes ?? INGEST_LANES, async (lanes) => {
    const db = lanes[0] as Db;
    for (const lane of lanes) {
      await repo.startLoaderSession(lane);
      await repo.createSeenTable(lane, seenTable);
    }
    const resolver = new PatientResolver(db, null, opts.pendingPatients);
    try {
      const ctx: MergeContext = { db, lanes, dryRun: opts.dryRun ?? false, seenTable, perItem: false };
      const preparer = new RowPreparer(opts.shiftMs ?? 0, latestAcceptedMs(deps.now().getTime()));
      let inFlight: Promise<void> | undefined;
      let failure: { err: unknown } | undefined;
      const run = async (rows: PreparedRow[]) => {
        const before = ingestedAndRejected(report);
        const { rejects } = await processRows(ctx, resolver, rows, report);
        if (!ctx.dryRun) countInMetrics(deps.metrics, before, ingestedAndRejected(report));
        await opts.rejects?.write(rejects);
        await deps.afterBatch?.(report.batches);
        opts.onProgress?.({ rowsRead: report.rows.read, elapsedMs: Date.now() - started });
      };
      // Set when a stop left rows unread or unsent (a stop during the last batch does not).
      let stopped = false;
      const stopping = () => {
        if (deps.signal?.aborted) stopped = true;
        return stopped;
      };
      const dispatch = async (rows: PreparedRow[]) => {
        await inFlight;
        if (failure) throw failure.err;
        // Asked to stop while the previous batch was in the database: start nothing more.
        if (stopping()) return;
        inFlight = run(rows).catch((err: unknown) => {
          failure = { err };
        });
      };
      let rows: PreparedRow[] = [];
      try {
        for await (const records of recordBatches(csvParser(input), RECORD_CHUNK)) {
          if (stopping()) break;
          // Parse the next batch while the previous one is in the database.
          for (const row of preparer.prepare(records)) {
            rows.push(row);
            if (rows.length === batchSize) {
              await dispatch(rows);
              rows = [];
            }
          }
        }
        if (!stopping()) {
          preparer.finish();
          if (rows.length > 0) await dispatch(rows);
        }
      } finally {
        // Never leave a statement running on the session when giving up.
        await inFlight;
      }
      if (failure) throw failure.err;
      // Each batch appended count deltas for its patients: fold them once, here, rather
      // than leave them to the patients' first history reads (a stopped load too).
      if (!ctx.dryRun) await foldReadingCounts(db, resolver.existingIds());
      if (stopped) {
        input.destroy();
        const reason = deps.signal?.reason;
        throw new LoadStoppedError(report, typeof reason === 'string' ? reason : undefined);
      }
      return report;
    } finally {
      if (opts.patientIds) for (const id of resolver.existingIds()) opts.patientIds.add(id);
      for (const lane of lanes) {
        await repo.dropSeenTable(lane, seenTable).catch(() => {});
        await repo.endLoaderSession(lane).catch(() => {});
      }
    }
  });
}

/**
 * Finds the newest timestamp of a readings CSV (for shifting sample data), or undefined.
 * Rows after `latestMs` are left out: one row from a clock years ahead must not shift the
 * whole file back (it is rejected when loaded).
 */
export async function newestTimestamp(input: Readable, latestMs: number): Promise<number | undefined> {
  const preparer = new RowPreparer(0, latestMs);
  let newest: number | undefined;
  for await (const records of recordBatches(csvParser(input), DEFAULT_BATCH_ROWS)) {
    for (const row of preparer.prepare(records)) {
      if (row.result.ok && (newest === undefined || row.result.tsMs > newest)) newest = row.result.tsMs;
    }
  }
  preparer.finish();
  return newest;
}

// ---------------------------------------------------------------------------------------
// Bulk endpoint
// ---------------------------------------------------------------------------------------

export interface BulkSummary {
  received: number;
  inserted: number;
  updated: number;
  unchanged: number;
  duplicate: number;
  rejected: number;
}

export interface BulkResult {
  summary: BulkSummary;
  results: ItemOutcome[];
  /** Existing patients the request named (for the audit trail). */
  patientIds: number[];
}

/** The request is too large to process (more rows or items than allowed). */
export class TooManyItemsError extends Error {
  constructor(readonly limit: number) {
    super(`at most ${limit} readings per request`);
    this.name = 'TooManyItemsError';
  }
}

function summarize(received: number, results: readonly ItemOutcome[]): BulkSummary {
  const s: BulkSummary = { received, inserted: 0, updated: 0, unchanged: 0, duplicate: 0, rejected: 0 };
  for (const r of results) s[r.status]++;
  return s;
}

/**
 * Loads a CSV text (reference format) in one statement, with one outcome per reading and
 * per rejected row. `scope` limits the patients the caller may write (null = all).
 */
export async function ingestCsvText(
  deps: Pick<IngestDeps, 'database' | 'metrics' | 'now'>,
  scope: readonly number[] | null,
  text: string,
  maxRows: number,
): Promise<BulkResult> {
  const preparer = new RowPreparer(0, latestAcceptedMs(deps.now().getTime()));
  const rows: PreparedRow[] = [];
  for await (const records of recordBatches(csvParser(Readable.from([text])), DEFAULT_BATCH_ROWS)) {
    rows.push(...preparer.prepare(records));
    if (rows.length > maxRows) throw new TooManyItemsError(maxRows);
  }
  preparer.finish();
  const db = deps.database.db;
  const resolver = new PatientResolver(db, scope === null ? null : new Set(scope));
  const report = emptyReadingsReport();
  const { items } = await processRows({ db, dryRun: false, perItem: true }, resolver, rows, report);
  countInMetrics(deps.metrics, [0, 0], ingestedAndRejected(report));
  return { summary: summarize(rows.length, items), results: items, patientIds: resolver.existingIds() };
}

/** A JSON bulk item after validation. */
export type BulkItemCheck =
  | { ok: true; patientId: number; type: ReadingType; value: number; unit: string; tsMs: number }
  | { ok: false; reason: RejectReason; field: string; message: string };

/**
 * Blood-pressure items whose pair would be inverted (diastolic at or above systolic), with
 * the reason: the partner is the first item of the request for the same patient and time,
 * or else the stored reading (one query, only for items without a partner in the request).
 */
async function invertedBpItems(
  db: Db,
  checked: readonly BulkItemCheck[],
  resolver: PatientResolver,
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const bp: number[] = [];
  const first = new ReadingPositions();
  checked.forEach((c, index) => {
    if (!c.ok || BP_PARTNER[c.type] === undefined || resolver.id(c.patientId) === undefined) return;
    bp.push(index);
    first.addFirst(c.patientId, c.type, c.tsMs, index);
  });
  if (bp.length === 0) return out;
  const item = (i: number) => checked[i] as Extract<BulkItemCheck, { ok: true }>;
  const partnerItem = (i: number) => {
    const c = item(i);
    return first.get(c.patientId, BP_PARTNER[c.type] as ReadingType, c.tsMs);
  };
  const lonely = bp.filter((i) => partnerItem(i) === undefined);
  const stored = new ReadingPositions();
  const storedValues: number[] = [];
  if (lonely.length > 0) {
    const keys = lonely.map((i) => {
      const c = item(i);
      return { patientId: c.patientId, type: BP_PARTNER[c.type] as ReadingType, tsMs: c.tsMs };
    });
    for (const r of await repo.findReadingValues(db, keys)) {
      stored.addFirst(r.patientId, r.type, r.tsMs, storedValues.push(r.value) - 1);
    }
  }
  for (const i of bp) {
    const c = item(i);
    const p = partnerItem(i);
    const partnerType = BP_PARTNER[c.type] as ReadingType;
    const s = p === undefined ? stored.get(c.patientId, partnerType, c.tsMs) : undefined;
    const partner = p !== undefined ? item(p).value : s !== undefined ? storedValues[s] : undefined;
    if (partner === undefined) continue;
    const [sys, dia] = c.type === 'systolic' ? [c.value, partner] : [partner, c.value];
    if (bpPlausible(sys, dia)) continue;
    const where = p !== undefined ? `item ${p}` : 'the stored reading';
    out.set(
      i,
      `systolic ${sys} mmHg is not above diastolic ${dia} mmHg (${where} for this patient and time; fields swapped?)`,
    );
  }
  return out;
}

/**
 * Loads validated JSON items in one statement, with one outcome per item, in order.
 * Items naming an unknown or out-of-scope patient are rejected alike, and so are
 * blood-pressure items that would make an inverted pair (see invertedBpItems).
 */
export async function ingestItems(
  deps: Pick<IngestDeps, 'database' | 'metrics'>,
  scope: readonly number[] | null,
  checked: readonly BulkItemCheck[],
): Promise<BulkResult> {
  const db = deps.database.db;
  const resolver = new PatientResolver(db, scope === null ? null : new Set(scope));
  await resolver.loadIds(checked.flatMap((c) => (c.ok ? [c.patientId] : [])));
  const results: ItemOutcome[] = checked.map((c, index) =>
    c.ok
      ? { index, status: 'unchanged' }
      : { index, status: 'rejected', reason: c.reason, message: `${c.field} ${c.message}` },
  );
  const cands: Candidate[] = [];
  const itemOf: number[] = [];
  const inverted = await invertedBpItems(db, checked, resolver);
  checked.forEach((c, index) => {
    if (!c.ok) return;
    if (resolver.id(c.patientId) === undefined) {
      results[index] = {
        index,
        status: 'rejected',
        reason: 'unknown_patient',
        message: 'patient_id: patient not found',
      };
      return;
    }
    const bad = inverted.get(index);
    if (bad !== undefined) {
      results[index] = { index, status: 'rejected', reason: 'implausible_bp', message: `body.${index}.value ${bad}` };
      return;
    }
    itemOf.push(index);
    cands.push({ line: index, patientId: c.patientId, type: c.type, value: c.value, unit: c.unit, tsMs: c.tsMs });
  });
  const m = await mergeCandidates({ db, dryRun: false, perItem: true }, cands);
  cands.forEach((_, i) => {
    const index = itemOf[i] as number;
    const s = m.status[i] as number;
    results[index] =
      s === S_CONFLICT
        ? {
            index,
            status: 'rejected',
            reason: 'conflicting_duplicate',
            message: `item ${m.conflictLine.get(i)} already gave another value for this patient, type and time`,
          }
        : { index, status: STATUS_NAMES[s] ?? 'unchanged' };
  });
  const summary = summarize(checked.length, results);
  // Each item is a row of its own: a rejected item is a rejected row.
  countInMetrics(deps.metrics, [0, 0], [summary.inserted + summary.updated + summary.unchanged, summary.rejected]);
  return { summary, results, patientIds: resolver.existingIds() };
}
