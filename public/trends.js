/**
 * Loads a patient's readings for a period and shapes them into chart specs.
 *
 * Up to 14 days the charts show every reading plus the hourly analytics (the stored
 * min/max/average per UTC hour). Longer periods never ship raw readings: they draw the
 * server-side aggregates of /biometrics/series, per hour up to 31 days, per local day
 * beyond. A period with more than RAW_MAX_READINGS readings also falls back to hours.
 */
import { ApiError } from './api.js';
import { fmtNumber, timeZone, toDisplay, unitOf } from './format.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
export const RAW_MAX_DAYS = 14;
export const HOURLY_MAX_DAYS = 31;
export const RAW_MAX_READINGS = 10_000;

export const PERIODS = [
  { id: '24h', label: '24 h', ms: DAY, long: 'last 24 hours' },
  { id: '7d', label: '7 d', ms: 7 * DAY, long: 'last 7 days' },
  { id: '14d', label: '14 d', ms: 14 * DAY, long: 'last 14 days' },
  { id: '30d', label: '30 d', ms: 30 * DAY, long: 'last 30 days' },
  { id: '90d', label: '90 d', ms: 90 * DAY, long: 'last 90 days' },
  { id: 'custom', label: 'Custom', ms: 0, long: 'custom period' },
];

export const COLORS = {
  glucose: '#1d4ed8',
  systolic: '#c2410c',
  diastolic: '#7e22ce',
  weight: '#0f766e',
};

const TYPES = ['glucose', 'systolic', 'diastolic', 'weight'];
const iso = (ms) => new Date(ms).toISOString();

function emptyByType() {
  return Object.fromEntries(TYPES.map((t) => [t, []]));
}

/** Hourly analytics items ({metric_name, value, bucket_start, ...}) grouped into buckets. */
function bucketsFromAnalytics(items) {
  const map = new Map();
  for (const it of items) {
    const cut = it.metric_name.lastIndexOf('_');
    const type = it.metric_name.slice(0, cut);
    const stat = it.metric_name.slice(cut + 1);
    const key = `${type}|${it.bucket_start}`;
    let b = map.get(key);
    if (!b) {
      b = { type, t0: Date.parse(it.bucket_start), t1: Date.parse(it.bucket_end), count: it.count };
      map.set(key, b);
    }
    b[stat] = it.value;
  }
  const out = emptyByType();
  for (const b of map.values()) {
    if (out[b.type] && b.min !== undefined && b.max !== undefined && b.avg !== undefined) out[b.type].push(b);
  }
  return out;
}

async function loadSeries(api, patientId, from, to, bucket) {
  const res = await api.get('/biometrics/series', {
    patient_id: patientId,
    from: iso(from),
    to: iso(to),
    bucket,
    tz: timeZone,
  });
  const buckets = emptyByType();
  for (const it of res.items) {
    buckets[it.type]?.push({
      t0: Date.parse(it.bucket_start),
      t1: Date.parse(it.bucket_end),
      min: it.min,
      max: it.max,
      avg: it.avg,
      count: it.count,
    });
  }
  return buckets;
}

/**
 * Fetches what the charts of [from, to) need.
 * @returns {Promise<{mode: 'raw'|'hour'|'day', readings: Record<string, {t:number,v:number}[]>,
 *   buckets: Record<string, object[]>, notes: string[], total: number}>}
 */
export async function loadTrends(api, patientId, from, to) {
  const span = to - from;
  const notes = [];
  if (span <= RAW_MAX_DAYS * DAY) {
    const readingsP = api.getAll(
      '/biometrics',
      { patient_id: patientId, from: iso(from), to: iso(to) },
      { size: 1000, maxItems: RAW_MAX_READINGS },
    );
    // The analytics store is written by the scheduled job; without it the band is simply absent.
    const analyticsP = api
      .getAll('/analytics', { patient_id: patientId, from: iso(Math.floor(from / HOUR) * HOUR), to: iso(to) })
      .catch((err) => {
        if (err instanceof ApiError && err.status === 403) {
          notes.push('This key cannot read hourly analytics.');
          return { items: [] };
        }
        throw err;
      });
    const [r, a] = await Promise.all([readingsP, analyticsP]);
    if (!r.truncated) {
      const readings = emptyByType();
      for (const it of r.items) readings[it.type]?.push({ t: Date.parse(it.timestamp), v: it.value, id: it.id });
      for (const t of TYPES) readings[t].reverse(); // API gives newest first
      return { mode: 'raw', readings, buckets: bucketsFromAnalytics(a.items), notes, total: r.total };
    }
    notes.push(`${r.total.toLocaleString()} readings are too many to draw one by one; showing hourly aggregates.`);
  }
  const bucket = span <= HOURLY_MAX_DAYS * DAY ? 'hour' : 'day';
  const buckets = await loadSeries(api, patientId, from, to, bucket);
  const total = TYPES.reduce((n, t) => n + buckets[t].reduce((m, b) => m + b.count, 0), 0);
  return { mode: bucket, readings: emptyByType(), buckets, notes, total };
}

function convertMetric(type, label, trends, units) {
  const c = (v) => toDisplay(type, v, units);
  return {
    key: type,
    label,
    color: COLORS[type],
    readings: trends.readings[type].map((p) => ({ t: p.t, v: c(p.v) })),
    buckets: trends.buckets[type].map((b) => ({ ...b, min: c(b.min), max: c(b.max), avg: c(b.avg) })),
  };
}

/** The three chart specs (glucose, blood pressure, weight) in the viewer's units. */
export function chartSpecs(trends, units, from, to) {
  const g = unitOf('glucose', units);
  const w = unitOf('weight', units);
  const base = { mode: trends.mode, from, to };
  return [
    {
      ...base,
      id: 'glucose',
      title: 'Glucose',
      unit: g,
      fmt: (v) => fmtNumber(v, g),
      target: [toDisplay('glucose', 70, units), toDisplay('glucose', 180, units)],
      softRange: [toDisplay('glucose', 50, units), toDisplay('glucose', 220, units)],
      metrics: [convertMetric('glucose', 'Glucose', trends, units)],
    },
    {
      ...base,
      id: 'bp',
      title: 'Blood pressure',
      unit: 'mmHg',
      fmt: (v) => fmtNumber(v, 'mmHg'),
      target: null,
      softRange: [60, 160],
      metrics: [
        convertMetric('systolic', 'Systolic', trends, units),
        convertMetric('diastolic', 'Diastolic', trends, units),
      ],
    },
    {
      ...base,
      id: 'weight',
      title: 'Weight',
      unit: w,
      fmt: (v) => fmtNumber(v, w),
      target: null,
      softRange: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      minSpan: units.weight === 'lb' ? 10 : 5,
      metrics: [convertMetric('weight', 'Weight', trends, units)],
    },
  ];
}

/** Numbers a chart shows, in words: its text alternative's first line. */
export function describeChart(spec, periodText) {
  const parts = [];
  for (const m of spec.metrics) {
    const values = m.readings.length ? m.readings.map((p) => p.v) : m.buckets.flatMap((b) => [b.min, b.max]);
    const n = m.readings.length || m.buckets.reduce((s, b) => s + b.count, 0);
    if (n === 0) {
      parts.push(`${m.label}: no readings`);
      continue;
    }
    const sum = m.readings.length
      ? m.readings.reduce((s, p) => s + p.v, 0)
      : m.buckets.reduce((s, b) => s + b.avg * b.count, 0);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    let text = `${m.label}: ${n} reading${n === 1 ? '' : 's'}, average ${spec.fmt(sum / n)}, lowest ${spec.fmt(lo)}, highest ${spec.fmt(hi)} ${spec.unit}`;
    if (spec.target && m.readings.length) {
      const inRange = m.readings.filter((p) => p.v >= spec.target[0] && p.v <= spec.target[1]).length;
      text += `; ${Math.round((inRange / n) * 100)} % in the target range`;
    }
    parts.push(text);
  }
  const source = spec.mode === 'raw' ? '' : ` (from ${spec.mode === 'day' ? 'daily' : 'hourly'} aggregates)`;
  return `${spec.title}, ${periodText}${source}. ${parts.join('. ')}.`;
}
