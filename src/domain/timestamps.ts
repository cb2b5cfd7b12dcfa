/**
 * Strict ISO 8601 timestamps. A timestamp without an offset means UTC everywhere (device
 * exports often omit it). Calendar-impossible values (2025-02-30, 24:00, month 13) are
 * rejected rather than rolled over as `Date` would.
 */
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Earliest and latest instants accepted for readings (inclusive, exclusive). */
export const MIN_TIMESTAMP_MS = Date.UTC(1900, 0, 1);
export const MAX_TIMESTAMP_MS = Date.UTC(2200, 0, 1);

const HOUR_MS = 3_600_000;

/**
 * How far after the server's clock a reading's timestamp may be. A device that sends local
 * time without an offset (read as UTC) can look up to 14 hours ahead (UTC+14), so a day
 * keeps those; a clock wrong by days or years is rejected rather than stored, where the
 * summary would otherwise have to choose between hiding it and showing it as latest.
 */
export const FUTURE_TOLERANCE_MS = 24 * HOUR_MS;

/** Why a timestamp beyond {@link latestAcceptedMs} is rejected, for API and report messages. */
export const TOO_FAR_AHEAD = "must not be more than 24 hours after the server's clock (no offset means UTC)";

/** The latest reading timestamp (epoch ms, inclusive) accepted when the server's clock reads `nowMs`. */
export function latestAcceptedMs(nowMs: number): number {
  return nowMs + FUTURE_TOLERANCE_MS;
}

/**
 * Epoch milliseconds of a UTC calendar time. `Date.UTC` maps years 0-99 to 1900-1999;
 * setUTCFullYear does not, so "0050-01-01" stays in year 50 (and is then out of range).
 */
function utcEpoch(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0); // day 0 of the next month = last day of this one
  return d.getUTCDate();
}

/**
 * Parses an ISO 8601 date-time into epoch milliseconds, or returns undefined when the
 * text is malformed, impossible or outside [1900-01-01, 2200-01-01). Fractions finer
 * than a millisecond are truncated.
 */
export function parseTimestamp(text: string): number | undefined {
  const m = ISO_RE.exec(text);
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, tz] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = hs === undefined ? 0 : Number(hs);
  const minute = mis === undefined ? 0 : Number(mis);
  const second = ss === undefined ? 0 : Number(ss);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  // Digits, not floating point: 0.146 * 1000 must be 146, never 145.99...
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, '0').slice(0, 3));
  let offsetMin = 0;
  if (tz !== undefined && tz !== 'Z' && tz !== 'z') {
    const sign = tz.startsWith('-') ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = sign * (oh * 60 + om);
  }
  const epoch = utcEpoch(year, month, day, hour, minute, second, ms) - offsetMin * 60_000;
  if (epoch < MIN_TIMESTAMP_MS || epoch >= MAX_TIMESTAMP_MS) return undefined;
  return epoch;
}

/** Start of the UTC hour containing `epochMs`. */
export function hourStart(epochMs: number): number {
  return Math.floor(epochMs / HOUR_MS) * HOUR_MS;
}

/** Validates a calendar date `YYYY-MM-DD` (no time part), proleptic Gregorian. */
export function isValidDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}
