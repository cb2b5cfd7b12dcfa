import { describe, expect, it } from 'vitest';
import { GLUCOSE_MGDL_PER_MMOLL, KG_PER_LB } from '../src/domain/readings.js';
import {
  HeaderError,
  isBlankRecord,
  isValidEmail,
  mapHeader,
  normalizeHeaderName,
  parseNumber,
  parseRow,
  REFERENCE_HEADER,
  recordLineSpan,
  toCsvLine,
} from '../src/modules/ingest/ingest.csv.js';

const ref = () => mapHeader(REFERENCE_HEADER.split(','));

function headerProblems(header: string[]): string[] {
  try {
    mapHeader(header);
  } catch (err) {
    expect(err).toBeInstanceOf(HeaderError);
    return (err as HeaderError).problems;
  }
  throw new Error('expected a HeaderError');
}

describe('mapHeader', () => {
  it('maps every column of the real reference header, blood pressure included', () => {
    expect(ref()).toEqual({
      width: 6,
      email: { index: 0, name: 'patient_email' },
      timestamp: { index: 1, name: 'timestamp' },
      values: [
        { index: 2, name: 'glucose_mg_dL', type: 'glucose', unit: 'mg/dl' },
        { index: 3, name: 'bp_systolic', type: 'systolic', unit: undefined },
        { index: 4, name: 'bp_diastolic', type: 'diastolic', unit: undefined },
        { index: 5, name: 'weight_kg', type: 'weight', unit: 'kg' },
      ],
    });
  });

  it('loads the reference row with all four readings, blood pressure included', () => {
    const row = parseRow(ref(), ['ana@example.org', '2025-05-24T08:00:00', '98', '121', '79', '70.5'], 2);
    expect(row).toEqual({
      ok: true,
      line: 2,
      email: 'ana@example.org',
      tsMs: Date.UTC(2025, 4, 24, 8),
      cells: [
        { col: expect.objectContaining({ type: 'glucose' }), ok: true, value: 98, unit: 'mg/dL' },
        { col: expect.objectContaining({ type: 'systolic' }), ok: true, value: 121, unit: 'mmHg' },
        { col: expect.objectContaining({ type: 'diastolic' }), ok: true, value: 79, unit: 'mmHg' },
        { col: expect.objectContaining({ type: 'weight' }), ok: true, value: 70.5, unit: 'kg' },
      ],
    });
  });

  it('lets the header decide: any order, any subset', () => {
    const map = mapHeader(['weight_kg', 'timestamp', 'patient_email']);
    expect(map.email.index).toBe(2);
    expect(map.timestamp.index).toBe(1);
    expect(map.values).toEqual([{ index: 0, name: 'weight_kg', type: 'weight', unit: 'kg' }]);
    const row = parseRow(map, ['80', '2025-01-01T00:00:00Z', 'a@b.org'], 5);
    expect(row).toMatchObject({ ok: true, cells: [{ ok: true, value: 80, unit: 'kg' }] });
  });

  it.each([
    ['glucose_mmol_L', 'glucose', 'mmol/l'],
    ['Glucose (mmol/L)', 'glucose', 'mmol/l'],
    ['glucose', 'glucose', undefined],
    ['glucose_mgdl', 'glucose', 'mg/dl'],
    ['weight_lb', 'weight', 'lb'],
    ['weight_lbs', 'weight', 'lbs'],
    ['weight', 'weight', undefined],
    ['systolic', 'systolic', undefined],
    ['bp_systolic_mmHg', 'systolic', 'mmhg'],
    ['BP_DIASTOLIC', 'diastolic', undefined],
    ['blood_pressure_diastolic', 'diastolic', undefined],
  ])('accepts the value column %s as %s in %s', (name, type, unit) => {
    const map = mapHeader(['email', 'timestamp', name]);
    expect(map.values).toEqual([{ index: 2, name, type, unit }]);
  });

  it('converts unit variants with the domain constants', () => {
    const map = mapHeader(['patient_email', 'timestamp', 'glucose_mmol_L', 'weight_lb']);
    const row = parseRow(map, ['a@b.org', '2025-01-01T00:00:00', '5.5', '154'], 2);
    expect(row).toMatchObject({
      ok: true,
      cells: [
        { ok: true, value: 5.5 * GLUCOSE_MGDL_PER_MMOLL, unit: 'mg/dL' },
        { ok: true, value: 154 * KG_PER_LB, unit: 'kg' },
      ],
    });
  });

  it('accepts the alias names and a byte order mark', () => {
    const map = mapHeader(['\ufeffEmail', ' DateTime ', 'glucose']);
    expect(map.email).toEqual({ index: 0, name: 'Email' });
    expect(map.timestamp).toEqual({ index: 1, name: 'DateTime' });
  });

  it('refuses unknown columns instead of dropping them silently', () => {
    const problems = headerProblems(['patient_email', 'timestamp', 'glucose_mg_dL', 'heart_rate']);
    expect(problems[0]).toBe('unknown column "heart_rate"');
    expect(problems.at(-1)).toMatch(/^accepted columns: /);
  });

  it.each([
    [['timestamp', 'glucose'], 'no patient_email column'],
    [['email', 'glucose'], 'no timestamp column'],
    [['email', 'timestamp'], 'no reading column'],
    [
      ['email', 'patient_email', 'timestamp', 'glucose'],
      'more than one patient email column ("email", "patient_email")',
    ],
    [['email', 'timestamp', 'time', 'glucose'], 'more than one timestamp column ("timestamp", "time")'],
    [
      ['email', 'timestamp', 'glucose_mg_dL', 'glucose_mmol_L'],
      'columns "glucose_mg_dL" and "glucose_mmol_L" both hold glucose',
    ],
    [['email', 'timestamp', 'glucose_kg'], 'column "glucose_kg": unit not accepted for glucose (use mg/dl, mmol/l)'],
    [['email', 'timestamp', 'bp_glucose'], 'unknown column "bp_glucose"'],
    [['email', 'timestamp', '', 'glucose'], 'column 3 has no name'],
  ])('refuses %j: %s', (header, problem) => {
    expect(headerProblems(header)).toContain(problem);
  });

  it('normalises header names', () => {
    expect(normalizeHeaderName(' Glucose (mg/dL) ')).toBe('glucose_mg_dl');
    expect(normalizeHeaderName('\ufeffpatient-email')).toBe('patient_email');
  });
});

describe('parseRow: whole-row rejections', () => {
  const good = ['ana@example.org', '2025-05-24T08:00:00', '98', '', '', ''];

  it.each([
    [good.slice(0, 5), 'wrong_column_count', '', 'expected 6 columns, found 5'],
    [[...good, 'extra'], 'wrong_column_count', '', 'expected 6 columns, found 7'],
    [['', ...good.slice(1)], 'bad_email', 'patient_email', 'patient email is missing'],
    [['ana.example.org', ...good.slice(1)], 'bad_email', 'patient_email', 'patient email is not a valid address'],
    [['ana@@example.org', ...good.slice(1)], 'bad_email', 'patient_email', 'patient email is not a valid address'],
    [['ana smith@example.org', ...good.slice(1)], 'bad_email', 'patient_email', 'patient email is not a valid address'],
    [['@example.org', ...good.slice(1)], 'bad_email', 'patient_email', 'patient email is not a valid address'],
    [[good[0], '', ...good.slice(2)], 'bad_timestamp', 'timestamp', 'timestamp is missing'],
  ])('rejects %j as %s', (fields, reason, column, detail) => {
    expect(parseRow(ref(), fields as string[], 9)).toEqual({ ok: false, line: 9, reason, column, detail });
  });

  it.each([
    'yesterday',
    '2025-02-30T10:00:00',
    '2025-13-45T99:00:00',
    '2026-01-31T25:61:00',
    '31/01/2026 08:00',
    '0000-00-00T00:00:00',
    '1899-12-31T23:59:59Z',
    '2200-01-01T00:00:00Z',
  ])('rejects the impossible or unparsable timestamp %s', (ts) => {
    expect(parseRow(ref(), [good[0] as string, ts, '98', '', '', ''], 3)).toMatchObject({
      ok: false,
      reason: 'bad_timestamp',
      column: 'timestamp',
    });
  });

  it('accepts offsets, fractions and a space separator; no offset means UTC', () => {
    const at = (ts: string) => (parseRow(ref(), [good[0] as string, ts, '98', '', '', ''], 2) as { tsMs: number }).tsMs;
    expect(at('2025-05-24T10:00:00+02:00')).toBe(Date.UTC(2025, 4, 24, 8));
    expect(at('2025-05-24 08:00:00.250')).toBe(Date.UTC(2025, 4, 24, 8, 0, 0, 250));
    expect(at('2025-05-24T08:00Z')).toBe(Date.UTC(2025, 4, 24, 8));
  });

  it('lower-cases and trims the email', () => {
    expect(parseRow(ref(), [' Ana@Example.ORG ', ...good.slice(1)], 2)).toMatchObject({ email: 'ana@example.org' });
  });

  it('shifts timestamps and rejects a shift out of the accepted range', () => {
    const shifted = parseRow(ref(), good, 2, 3 * 3_600_000);
    expect(shifted).toMatchObject({ ok: true, tsMs: Date.UTC(2025, 4, 24, 11) });
    const far = parseRow(ref(), good, 2, 200 * 365 * 86_400_000);
    expect(far).toMatchObject({ ok: false, reason: 'bad_timestamp' });
  });

  it('rejects a timestamp after the latest accepted instant, checked after the shift', () => {
    const tsMs = Date.UTC(2025, 4, 24, 8);
    expect(parseRow(ref(), good, 2, 0, tsMs)).toMatchObject({ ok: true, tsMs });
    expect(parseRow(ref(), good, 2, 0, tsMs - 1)).toEqual({
      ok: false,
      line: 2,
      reason: 'bad_timestamp',
      column: 'timestamp',
      detail: "timestamp must not be more than 24 hours after the server's clock (no offset means UTC)",
    });
    expect(parseRow(ref(), good, 2, 3_600_000, tsMs)).toMatchObject({ ok: false, reason: 'bad_timestamp' });
    expect(parseRow(ref(), good, 2, -3_600_000, tsMs - 3_600_000)).toMatchObject({ ok: true });
  });
});

describe('parseRow: cells', () => {
  const row = (cells: string[]) => parseRow(ref(), ['ana@example.org', '2025-05-24T08:00:00', ...cells], 4);

  it('treats empty cells as no reading, not an error', () => {
    expect(row(['', '', '  ', ''])).toEqual({
      ok: true,
      line: 4,
      email: 'ana@example.org',
      tsMs: Date.UTC(2025, 4, 24, 8),
      cells: [],
    });
  });

  it.each([
    ['high', 'glucose'],
    ['12O', 'glucose'],
    ['NaN', 'glucose'],
    ['#VALUE!', 'glucose'],
    ['98mg', 'glucose'],
    ['0x10', 'glucose'],
    ['Infinity', 'glucose'],
    ['1,5', 'glucose'],
  ])('rejects only the non-numeric cell %s; the other readings load', (bad) => {
    const r = row([bad, '120', '80', '']);
    expect(r).toMatchObject({
      ok: true,
      cells: [
        { ok: false, reason: 'non_numeric', detail: 'glucose is not a number', col: { name: 'glucose_mg_dL' } },
        { ok: true, value: 120 },
        { ok: true, value: 80 },
      ],
    });
  });

  it.each([
    ['glucose', ['-5', '', '', ''], 'glucose must be between 10 and 1500 mg/dL'],
    ['glucose', ['99999', '', '', ''], 'glucose must be between 10 and 1500 mg/dL'],
    ['systolic', ['', '450', '80', ''], 'systolic must be between 40 and 300 mmHg'],
    ['diastolic', ['', '120', '0', ''], 'diastolic must be between 20 and 200 mmHg'],
    ['weight', ['', '', '', '1500'], 'weight must be between 0.5 and 700 kg'],
    ['weight', ['', '', '', '-72.5'], 'weight must be between 0.5 and 700 kg'],
  ])('rejects an impossible %s value as impossible_value', (type, cells, detail) => {
    const r = row(cells) as { cells: { ok: boolean; reason?: string; detail?: string; col: { type: string } }[] };
    const bad = r.cells.find((c) => !c.ok);
    expect(bad).toMatchObject({ reason: 'impossible_value', detail, col: { type } });
  });

  it('accepts the range limits and numbers with signs, decimals and exponents', () => {
    expect(row(['10', '300', '20', '700'])).toMatchObject({
      cells: [{ ok: true }, { ok: true }, { ok: true }, { ok: true }],
    });
    expect(parseNumber(' +1.5e2 ')).toBe(150);
    expect(parseNumber('.5')).toBe(0.5);
    expect(parseNumber('7.')).toBe(7);
    expect(parseNumber('7 2')).toBeUndefined();
    expect(parseNumber('')).toBeUndefined();
  });
});

describe('helpers', () => {
  it('validates emails with the API rule', () => {
    expect(isValidEmail('a.b+c@example.co.uk')).toBe(true);
    expect(isValidEmail('a@b')).toBe(false);
    expect(isValidEmail(`${'a'.repeat(250)}@b.org`)).toBe(false);
  });

  it('serialises CSV lines, quoting only where needed', () => {
    expect(toCsvLine(['a', 1, 'b,c', 'say "hi"', 'x\ny', ' pad'])).toBe('a,1,"b,c","say ""hi""","x\ny"," pad"');
  });

  it('counts the physical lines of a record', () => {
    expect(recordLineSpan(['a', 'b'])).toBe(1);
    expect(recordLineSpan(['x\ny', 'z\r\nw'])).toBe(3);
  });

  it('recognises blank lines', () => {
    expect(isBlankRecord([''])).toBe(true);
    expect(isBlankRecord(['  '])).toBe(true);
    expect(isBlankRecord(['', ''])).toBe(false);
  });
});
