import { describe, expect, it } from 'vitest';
import {
  mergePatient,
  type PatientRecord,
  PatientsFileError,
  parsePatientRecord,
  sameRecord,
  splitJsonArray,
} from '../src/modules/ingest/ingest.patients.js';

const NOW = new Date('2026-01-31T12:00:00Z');
const base = { name: 'Ana Souza', dob: '1980-05-12', gender: 'female', email: 'ana@example.org' };

function record(value: unknown, line = 2) {
  return parsePatientRecord({ line, text: JSON.stringify(value) }, NOW);
}

describe('splitJsonArray', () => {
  it('splits the elements with the line each starts on', () => {
    const text = '[\n  {"a": 1},\n  {"b": "x, ]}"},\n\n  {"c": [1, {"d": 2}]}\n]\n';
    expect(splitJsonArray(text)).toEqual([
      { line: 2, text: '{"a": 1}' },
      { line: 3, text: '{"b": "x, ]}"}' },
      { line: 5, text: '{"c": [1, {"d": 2}]}' },
    ]);
  });

  it('handles escaped quotes, a byte order mark and an empty array', () => {
    expect(splitJsonArray('\ufeff[{"n": "say \\"hi\\", ok"}]')).toEqual([
      { line: 1, text: '{"n": "say \\"hi\\", ok"}' },
    ]);
    expect(splitJsonArray(' [ ] ')).toEqual([]);
  });

  it('keeps a malformed element for its own rejection', () => {
    expect(splitJsonArray('[{"a": 1}, {"b": tru}]')).toEqual([
      { line: 1, text: '{"a": 1}' },
      { line: 1, text: '{"b": tru}' },
    ]);
  });

  it.each([
    ['{"a": 1}', 'patients file: expected a JSON array of patient records'],
    ['[{"a": 1}', 'patients file: the JSON array is not closed'],
    ['[{"a": 1},]', 'patients file: empty array element on line 1'],
    ['[{"a": 1}] x', 'patients file: unexpected content after the array on line 1'],
  ])('refuses %s', (text, message) => {
    expect(() => splitJsonArray(text)).toThrow(new PatientsFileError(message.replace('patients file: ', '')));
  });
});

describe('parsePatientRecord', () => {
  it('normalises gender and email to lower case, as the reference does', () => {
    expect(record({ ...base, gender: 'MALE', email: ' Ana@Example.ORG ', name: ' Ana ' })).toEqual({
      line: 2,
      text: expect.any(String),
      name: 'Ana',
      dob: '1980-05-12',
      gender: 'male',
      email: 'ana@example.org',
      ignored: [],
    });
  });

  it('keeps optional fields only when present and lists unknown properties', () => {
    expect(record({ ...base, address: null, phone: '555-0100', id: 7 })).toMatchObject({
      address: null,
      phone: '555-0100',
      ignored: ['id'],
    });
    expect(record(base)).not.toHaveProperty('address');
  });

  it.each([
    [{ ...base, dob: '1980-02-30' }, 'dob', 'dob must be a real calendar date in the form YYYY-MM-DD'],
    [{ ...base, dob: '2999-01-01' }, 'dob', 'dob must not be in the future'],
    [{ ...base, email: 'not-an-email' }, 'email', 'email must be a valid email address'],
    [{ ...base, gender: 'unknown' }, 'gender', 'gender must match pattern'],
    [{ ...base, name: '' }, 'name', 'name must NOT have fewer than 1 characters'],
    [{ name: 'X', dob: '1980-01-01', gender: 'male' }, 'email', 'email is required'],
    [{ ...base, phone: 12 }, 'phone', 'phone must be string'],
  ])('rejects %j as invalid_record on %s', (value, column, detail) => {
    const r = record(value);
    expect(r).toMatchObject({ reason: 'invalid_record', column, line: 2 });
    expect((r as { detail: string }).detail.startsWith(detail)).toBe(true);
  });

  it('rejects malformed JSON and non-objects', () => {
    expect(parsePatientRecord({ line: 4, text: '{"name": tru}' }, NOW)).toEqual({
      line: 4,
      text: '{"name": tru}',
      reason: 'malformed_json',
      column: '',
      detail: 'record is not valid JSON',
    });
    expect(record([1, 2])).toMatchObject({ reason: 'invalid_record', detail: 'record is not an object' });
  });
});

describe('mergePatient and sameRecord', () => {
  const rec = record({ ...base, phone: '555' }) as PatientRecord;
  const stored = { name: 'Ana Souza', dob: '1980-05-12', gender: 'female', address: '1 Main St', phone: '555' };

  it('inserts a new patient with absent optional fields as null', () => {
    expect(mergePatient(record(base) as PatientRecord, undefined)).toEqual({ ...base, address: null, phone: null });
  });

  it('keeps stored values for absent optional fields and reports no change when equal', () => {
    expect(mergePatient(rec, stored)).toBeUndefined();
  });

  it('overwrites what the record gives', () => {
    expect(mergePatient(record({ ...base, address: null }) as PatientRecord, stored)).toEqual({
      ...base,
      address: null,
      phone: '555',
    });
  });

  it('compares records of one email', () => {
    expect(sameRecord(rec, record({ ...base, phone: '555' }) as PatientRecord)).toBe(true);
    expect(sameRecord(rec, record({ ...base, phone: '556' }) as PatientRecord)).toBe(false);
  });
});
